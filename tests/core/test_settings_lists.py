"""Every list setting reads as operators write it (a comma list, or JSON), and a bad setting in any
process is one line naming the variable, exit code 2, never a traceback."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import types
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import IPvAnyNetwork
from pydantic_settings import BaseSettings

from agent_client.settings import ClientSettings
from agents.audio_video.settings import MediaSettings
from agents.common.settings import AgentSettings
from agents.data_analysis.settings import AnalysisSettings
from agents.image_gen.settings import ImageGenSettings
from agents.web_scraper.settings import ScraperSettings
from bot.billing.cost import CostSettings
from bot.local.dev import DevSettings
from bot.settings import BotSettings
from spotrun.config import SettingsError, env_name, load_settings
from tests.helpers import ROOT, free_port

SETTINGS: list[type[BaseSettings]] = [
    AgentSettings,
    ScraperSettings,
    MediaSettings,
    ImageGenSettings,
    AnalysisSettings,
    BotSettings,
    DevSettings,
    CostSettings,
    ClientSettings,
]

# Two example items per element type, as text and as the parsed value.
SAMPLES: dict[Any, tuple[list[str], list[Any]]] = {
    str: (
        ["a@p.iam.gserviceaccount.com", "b@p.iam.gserviceaccount.com"],
        ["a@p.iam.gserviceaccount.com", "b@p.iam.gserviceaccount.com"],
    ),
    int: (["123456789012345678", "42"], [123456789012345678, 42]),
    float: (["0", "2.5"], [0.0, 2.5]),
    IPvAnyNetwork: (
        ["10.1.0.0/16", "192.168.7.0/24"],
        [ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("192.168.7.0/24")],
    ),
}


def _sequence_type(annotation: Any) -> Any | None:
    """The element type of a tuple/list/set annotation (also inside Optional), else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        found = [t for a in get_args(annotation) if (t := _sequence_type(a)) is not None]
        return found[0] if found else None
    if get_origin(annotation) in (tuple, list, set, frozenset):
        return get_args(annotation)[0]
    return None


LIST_FIELDS = [
    (cls, name, element)
    for cls in SETTINGS
    for name, info in cls.model_fields.items()
    if (element := _sequence_type(info.annotation)) is not None
]


def test_the_list_settings_are_found() -> None:
    found = {f"{cls.__name__}.{name}" for cls, name, _ in LIST_FIELDS}
    assert {
        "AgentSettings.allowed_callers",
        "AgentSettings.issuers",
        "ScraperSettings.allowed_networks",
        "BotSettings.sync_guild_ids",
        "BotSettings.owner_ids",
        "BotSettings.login_backoff_s",
    } <= found


# An empty list here would refuse every caller: an error, not a silent lock-out.
NEVER_EMPTY = {"issuers"}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("SPOTRUN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SPOTRUN_AGENT_AUTH", "none")
    return monkeypatch


@pytest.mark.parametrize(
    ("cls", "name", "element"), LIST_FIELDS, ids=lambda v: getattr(v, "__name__", str(v))
)
@pytest.mark.parametrize("form", ["one", "comma", "comma-spaced", "json", "empty"])
def test_list_setting_accepts_comma_lists_and_json(
    clean_env: pytest.MonkeyPatch, cls: type[BaseSettings], name: str, element: Any, form: str
) -> None:
    texts, values = SAMPLES[element]
    raw, expected = {
        "one": (texts[0], values[:1]),
        "comma": (",".join(texts), values),
        "comma-spaced": (" " + " , ".join(texts) + " ,", values),
        "json": (json.dumps([json.loads(t) if element in (int, float) else t for t in texts]), values),
        "empty": ("", []),
    }[form]
    clean_env.setenv(env_name(cls, name), raw)
    if not expected and name in NEVER_EMPTY:
        with pytest.raises(SettingsError, match=env_name(cls, name)):
            load_settings(cls)
        return
    assert list(getattr(load_settings(cls), name)) == expected


def test_a_bad_list_item_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SPOTRUN_SCRAPER_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-network")
    with pytest.raises(SettingsError, match="SPOTRUN_SCRAPER_ALLOWED_NETWORKS"):
        load_settings(ScraperSettings)
    clean_env.setenv("SPOTRUN_AGENT_ALLOWED_CALLERS", '["unclosed')
    with pytest.raises(SettingsError, match="SPOTRUN_AGENT_ALLOWED_CALLERS"):
        load_settings(AgentSettings)


# Every process kind, each with one wrong setting: (argv after `python -m`, env, variable named).
BAD = {
    "python -m agents.web_scraper": (
        ["agents.web_scraper"],
        {"SPOTRUN_AGENT_AUTH": "none", "SPOTRUN_SCRAPER_ALLOWED_NETWORKS": "not-a-network"},
        "SPOTRUN_SCRAPER_ALLOWED_NETWORKS",
    ),
    "python -m agents.audio_video": (
        ["agents.audio_video"],
        {"SPOTRUN_AGENT_AUTH": "none", "SPOTRUN_AGENT_MAX_REQUEST_MB": "lots"},
        "SPOTRUN_AGENT_MAX_REQUEST_MB",
    ),
    "python -m agents.image_gen (no audience)": (
        ["agents.image_gen"],
        {"SPOTRUN_AGENT_AUTH": "google"},
        "SPOTRUN_AGENT_AUDIENCE",
    ),
    "python -m agents.data_analysis (log level)": (
        ["agents.data_analysis"],
        {"SPOTRUN_AGENT_AUTH": "none", "SPOTRUN_AGENT_LOG_LEVEL": "LOUD"},
        "SPOTRUN_AGENT_LOG_LEVEL",
    ),
    "spotrun agent": (
        ["spotrun", "agent", "web-scraper"],
        {"SPOTRUN_AGENT_AUDIENCE": "https://x.run.app", "SPOTRUN_AGENT_ALLOWED_CALLERS": '["unclosed'},
        "SPOTRUN_AGENT_ALLOWED_CALLERS",
    ),
    "spotrun bot": (
        ["spotrun", "bot"],
        {"SPOTRUN_DISCORD_TOKEN": "t", "SPOTRUN_OWNER_IDS": "alice,bob"},
        "SPOTRUN_OWNER_IDS",
    ),
    "spotrun bot (log level)": (
        ["spotrun", "bot"],
        {"SPOTRUN_DISCORD_TOKEN": "t", "SPOTRUN_LOG_LEVEL": "chatty"},
        "SPOTRUN_LOG_LEVEL",
    ),
    "spotrun bot (client setting)": (
        ["spotrun", "bot"],
        {"SPOTRUN_DISCORD_TOKEN": "t", "SPOTRUN_OPS_PORT": "0", "SPOTRUN_CLIENT_BACKOFF_MAX_S": "-1"},
        "SPOTRUN_CLIENT_BACKOFF_MAX_S",
    ),
    "spotrun bot (no registry file)": (
        ["spotrun", "bot"],
        {
            "SPOTRUN_DISCORD_TOKEN": "t",
            "SPOTRUN_OPS_PORT": "0",
            "SPOTRUN_CLIENT_REGISTRY_FILE": "/nonexistent.yaml",
        },
        "SPOTRUN_CLIENT_REGISTRY_FILE",
    ),
    "spotrun dev (not a registry)": (
        ["spotrun", "dev", "--console"],
        {"SPOTRUN_CLIENT_REGISTRY_FILE": str(ROOT / "pyproject.toml")},
        "SPOTRUN_CLIENT_REGISTRY_FILE",
    ),
    "spotrun dev (an agent's setting)": (
        ["spotrun", "dev", "--console", "--output", "{tmp}"],
        {
            "SPOTRUN_DEV_AGENTS": "data-analysis",
            "SPOTRUN_AGENT_LOG_LEVEL": "LOUD",
            "SPOTRUN_LOG_LEVEL": "WARNING",
        },
        "SPOTRUN_AGENT_LOG_LEVEL",
    ),
    "spotrun dev": (
        ["spotrun", "dev", "--console"],
        {"SPOTRUN_DEV_AGENT_START_TIMEOUT_S": "soon"},
        "SPOTRUN_DEV_AGENT_START_TIMEOUT_S",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path, case: str) -> None:
    argv, extra, variable = BAD[case]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTRUN_")}
    env.update(
        {"SPOTRUN_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "PORT": str(free_port()), **extra}
    )
    done = subprocess.run(
        [sys.executable, "-m", *(a.replace("{tmp}", str(tmp_path)) for a in argv)],
        cwd=ROOT,
        env=env,
        input=b"",
        capture_output=True,
        timeout=60,
        check=False,
    )
    err = done.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert done.returncode == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and variable in lines[0], err
