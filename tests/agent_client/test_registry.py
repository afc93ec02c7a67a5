"""The agent registry file: YAML and TOML, validated on load with the offending key named."""

from __future__ import annotations

from importlib import resources

import pytest

from agent_client import RegistryError, load_registry
from spotrun.protocol import Command


def test_yaml_registry_loads_and_routes_commands(tmp_path):
    path = tmp_path / "agents.yaml"
    path.write_text(
        "agents:\n"
        "  - name: web-scraper\n"
        "    base_url: https://web-scraper-x.a.run.app/\n"
        "    commands: [scrape, extract]\n"
        "    cpu: 2\n    memory_gib: 4\n"
    )
    reg = load_registry(path)
    agent = reg.for_command("extract")
    assert agent.name == "web-scraper" and agent.auth == "google"
    assert agent.id_token_audience == "https://web-scraper-x.a.run.app"
    assert agent.url_for(Command.SCRAPE) == "https://web-scraper-x.a.run.app/v1/scrape"


def test_toml_registry_with_custom_audience(tmp_path):
    path = tmp_path / "agents.toml"
    path.write_text(
        '[[agents]]\nname = "image-gen"\nbase_url = "https://img.internal.example/api"\n'
        'audience = "spotrun-image-gen"\ncommands = ["generate"]\n'
    )
    assert load_registry(path).for_command("generate").id_token_audience == "spotrun-image-gen"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("agents: []\n", "agents"),
        ("agents:\n  - {name: a, base_url: 'ftp://x', commands: [tts]}\n", "base_url"),
        # Any command name is fine (a new agent describes it in its manifest); not a malformed one.
        ("agents:\n  - {name: a, base_url: 'http://x', commands: [Dance!]}\n", "commands"),
        ("agents:\n  - {name: a, base_url: 'http://x', commands: [tts], colour: red}\n", "colour"),
        ("agents:\n  - {name: a, base_url: 'http://x', commands: [tts], retries: -1}\n", "retries"),
        (
            "agents:\n  - {name: a, base_url: 'http://x', commands: [tts]}\n"
            "  - {name: b, base_url: 'http://y', commands: [tts]}\n",
            "served by both",
        ),
        ("agents: [\n", "not valid yaml"),
    ],
)
def test_invalid_registries_name_the_problem(tmp_path, text, needle):
    path = tmp_path / "agents.yaml"
    path.write_text(text)
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    assert needle in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(RegistryError, match="cannot read agent registry"):
        load_registry(tmp_path / "nope.yaml")


def test_the_shipped_local_registry_covers_every_command():
    path = resources.files("spotrun") / "agents.local.yaml"
    reg = load_registry(str(path))
    assert {c for a in reg for c in a.commands} == set(Command)
    assert all(a.auth == "none" for a in reg)
