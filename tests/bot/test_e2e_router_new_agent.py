"""A new agent is routable with no bot code: written here on the shared runtime, added to the
registry, and asked for in Portuguese by a mention — its manifest's requests are all the router has."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from pydantic import Field

from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app
from bot.runtime.main import Running
from spotrun.protocol import CommandArgs, CommandSpec
from tests.bot import test_e2e_discord
from tests.bot.conftest import AGENTS, ALICE
from tests.fakes.discord import DiscordEmulator
from tests.helpers import serve

emu, bot = test_e2e_discord.emu, test_e2e_discord.bot

pytestmark = pytest.mark.timeout(90)


class MirrorArgs(CommandArgs):
    text: str = Field(min_length=1, max_length=200, description="what to reverse")
    times: int = Field(
        default=1, ge=1, le=3, description="how often", json_schema_extra={"x-cues": ["vezes", "times"]}
    )


async def mirror(job: Job) -> Output:
    text = job.args.text
    for _ in range(job.args.times):
        text = text[::-1]
    return Output(title="Mirrored", text=text)


MIRROR = AgentSpec(
    name="mirror",
    handlers={"mirror": mirror},
    commands=[
        CommandSpec(
            command="mirror",
            family="mirror",
            args=MirrorArgs,
            summary="Write a text backwards",
            usage="mirror <text> [times=1]",
            example="!mirror hello",
            requests=(
                "write {text} backwards",
                "reverse this text: {text}",
                "inverte o texto {text}",
                "escribe {text} al revés",
            ),
        )
    ],
)


@pytest.fixture
async def mirror_url() -> AsyncIterator[str]:
    async with serve(create_agent_app(MIRROR, AgentSettings(auth="none"))) as url:
        yield url


@pytest.fixture
def registry_file(tmp_path: Path, agent_urls: dict[str, str], mirror_url: str) -> Path:
    """The built-in agents plus one registry entry for the new agent: the only change."""
    common = {"auth": "none", "timeout_s": 30, "retries": 1, "max_concurrency": 2, "cpu": 1, "memory_gib": 2}
    agents = [{"name": n, "base_url": agent_urls[n], "commands": c, **common} for n, (_, c) in AGENTS.items()]
    agents.append({"name": "mirror", "base_url": mirror_url, "commands": ["mirror"], **common})
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump({"agents": agents}))
    return path


async def test_a_new_agent_is_routable_from_its_manifest(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, f"<@{emu.bot_user_id}> inverte o texto bom dia")
    msg = await emu.wait_for(lambda m: "Mirrored" in m.text() and "vCPU-s" in m.text(), timeout=30)
    assert msg.content.startswith('→ `!mirror "bom dia"`')
    assert "aid mob" in msg.text()
    # And it is in the list of what the bot can do.
    emu.user_says(ALICE, f"<@{emu.bot_user_id}> order me a pizza")
    answer = await emu.wait_for(lambda m: "I can" in m.content)
    assert "`!mirror` — Write a text backwards" in answer.content
