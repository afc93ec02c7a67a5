"""End-to-end fixtures: the Discord emulator, the real agents on loopback, and the bot started by
the same function production uses (bot.runtime.main.start_bot) with settings from the environment."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import yaml

from tests.helpers import free_port, serve

ALICE, BOB, ADMIN = 5001, 5002, 5003

# cli name -> (module with build(), commands) as in spotrun/agents.local.yaml
AGENTS = {
    "image-gen": ("agents.image_gen.app", ["generate", "enhance", "style-transfer"]),
    "web-scraper": ("agents.web_scraper.app", ["scrape", "extract"]),
    "data-analysis": ("agents.data_analysis.app", ["analyze", "chart", "predict"]),
    "audio-video": ("agents.audio_video.app", ["transcribe", "tts", "convert"]),
}


def agent_available(name: str) -> bool:
    try:
        importlib.import_module(AGENTS[name][0])
    except ImportError:
        return False
    return True


def needs_agent(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not agent_available(name), reason=f"the {name} agent ({AGENTS[name][0]}) is not in this checkout yet"
    )


@pytest.fixture
async def agent_urls(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[dict[str, str]]:
    """Real agents, in this process on loopback. `down` (a marker arg) lists agents left down."""
    from agents.common.settings import AgentSettings

    marker = request.node.get_closest_marker("agents_down")
    down = set(marker.args) if marker else set()
    # The scraper must fetch the test's loopback pages; its SSRF guard stays on in production.
    monkeypatch.setenv("SPOTRUN_SCRAPER_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("SPOTRUN_AGENT_AUTH", "none")
    urls: dict[str, str] = {}
    async with AsyncExitStack() as stack:
        for name, (module, _) in AGENTS.items():
            if name in down or not agent_available(name):
                urls[name] = f"http://127.0.0.1:{free_port()}"  # nothing listens: the agent is down
                continue
            app = importlib.import_module(module).build(AgentSettings(auth="none"))
            urls[name] = await stack.enter_async_context(serve(app))
        yield urls


@pytest.fixture
def registry_file(tmp_path: Path, agent_urls: dict[str, str]) -> Path:
    agents = [
        {
            "name": name,
            "base_url": agent_urls[name],
            "auth": "none",
            "commands": commands,
            "timeout_s": 30,
            "retries": 1,
            "max_concurrency": 2,
            "cpu": 1,
            "memory_gib": 2,
        }
        for name, (_, commands) in AGENTS.items()
    ]
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump({"agents": agents}))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every end-to-end test runs on both job stores: a SQLite file, and a fresh database on the
    session's one real PostgreSQL server (tests.postgres; a missing server skips, or fails in CI)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return str(request.getfixturevalue("postgres").new_database())


@pytest.fixture
def bot_env(
    tmp_path: Path, registry_file: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {
        "SPOTRUN_CLIENT_REGISTRY_FILE": str(registry_file),
        "SPOTRUN_CLIENT_BACKOFF_INITIAL_S": "0.05",
        "SPOTRUN_DATABASE_URL": database_url,
        "SPOTRUN_STATUS_EDIT_INTERVAL_S": "0.3",
        "SPOTRUN_OPS_PORT": "0",
        "SPOTRUN_DRAIN_BUDGET_S": "1",
        "SPOTRUN_LOG_LEVEL": "WARNING",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "agents_down(*names): leave these agents down (nothing listens)")
