"""Commands come from the agents' manifests: an agent the bot has never heard of, written here
in a few lines on the shared runtime, becomes `!shout` and `/shout` with typed options, is
dispatched, rendered and billed — no change to bot/. Built-ins go the same way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Literal

import pytest
import yaml
from pydantic import Field

from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app
from bot.runtime.main import Running
from spotrun.protocol import CommandArgs, CommandSpec, EmbedField, OutputFile
from tests.bot import test_e2e_discord
from tests.bot.conftest import AGENTS, ALICE
from tests.fakes.discord import DiscordEmulator
from tests.helpers import free_port, serve

emu, bot, site = test_e2e_discord.emu, test_e2e_discord.bot, test_e2e_discord.site

pytestmark = pytest.mark.timeout(90)

STRING, INTEGER, BOOLEAN, NUMBER, ATTACHMENT = 3, 4, 5, 10, 11


# ----------------------------------------------------------------- the new agent, in a few lines


class ShoutArgs(CommandArgs):
    text: str = Field(min_length=1, max_length=200, description="what to shout")
    times: int = Field(default=1, ge=1, le=5, description="how many times")
    style: Literal["plain", "stars"] = Field(default="plain", description="decoration")
    loud: bool = Field(default=True, description="upper case")
    pitch: float = Field(default=1.0, ge=0.5, le=2.0, description="how high")


async def shout(job: Job) -> Output:
    a = job.args
    word = a.text.upper() if a.loud else a.text
    word = f"*{word}*" if a.style == "stars" else word
    said = " ".join([word] * a.times)
    files = [OutputFile(name="shout.txt", content_type="text/plain", data=said.encode())]
    if job.files:
        files.append(
            OutputFile(name=f"echo-{job.files[0].name}", content_type="text/plain", data=job.files[0].data)
        )
    return Output(
        title="Shouted",
        text=said,
        fields=[EmbedField(name="times", value=str(a.times)), EmbedField(name="pitch", value=f"{a.pitch:g}")],
        files=files,
    )


SHOUTER = AgentSpec(
    name="shouter",
    handlers={"shout": shout},
    commands=[
        CommandSpec(
            command="shout",
            family="shouter",
            args=ShoutArgs,
            file_kinds=("text/",),
            file_words="text files",
            summary="Shout text back, louder",
            usage="shout <text> [times=1] [style=plain|stars] [loud=true] [pitch=1.0] + optional text file",
            example="!shout hello times=2",
        )
    ],
)


class Deployment:
    """The new agent at a fixed address; `redeploy` replaces it there, as a new revision would."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stack = AsyncExitStack()

    async def deploy(self, spec: AgentSpec) -> None:
        await self._stack.aclose()
        self._stack = AsyncExitStack()
        await self._stack.enter_async_context(
            serve(create_agent_app(spec, AgentSettings(auth="none")), self.port)
        )


@pytest.fixture
async def shouter() -> AsyncIterator[Deployment]:
    deployment = Deployment()
    await deployment.deploy(SHOUTER)
    yield deployment
    await deployment._stack.aclose()


@pytest.fixture
def shouter_url(shouter: Deployment) -> str:
    return shouter.url


@pytest.fixture
def registry_file(tmp_path: Path, agent_urls: dict[str, str], shouter_url: str) -> Path:
    """The built-in agents plus one registry entry for the new agent — the only change needed."""
    common = {"auth": "none", "timeout_s": 30, "retries": 1, "max_concurrency": 2, "cpu": 1, "memory_gib": 2}
    agents = [
        {"name": name, "base_url": agent_urls[name], "commands": commands, **common}
        for name, (_, commands) in AGENTS.items()
    ]
    agents.append({"name": "shouter", "base_url": shouter_url, "commands": ["shout"], **common})
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump({"agents": agents}))
    return path


def synced(emu: DiscordEmulator) -> dict[str, dict]:
    return {c["name"]: c for c in emu.synced_commands}


def options(command: dict) -> dict[str, dict]:
    return {o["name"]: o for o in command.get("options", [])}


# --------------------------------------------------------------------------------------- tests


async def test_a_new_agent_is_a_registry_entry_not_bot_code(emu: DiscordEmulator, bot: Running) -> None:
    shout_cmd = synced(emu)["shout"]
    assert shout_cmd["description"] == "Shout text back, louder"
    opts = options(shout_cmd)
    assert opts["text"]["type"] == STRING and opts["text"]["required"] is True
    assert opts["text"]["description"] == "what to shout" and opts["text"]["max_length"] == 200
    assert opts["times"]["type"] == INTEGER and (opts["times"]["min_value"], opts["times"]["max_value"]) == (
        1,
        5,
    )
    assert opts["times"].get("required", False) is False
    assert [c["value"] for c in opts["style"]["choices"]] == ["plain", "stars"]
    assert opts["loud"]["type"] == BOOLEAN and opts["pitch"]["type"] == NUMBER
    assert opts["file"]["type"] == ATTACHMENT and not opts["file"].get("required", False)

    # Prefix form, same syntax as every command: words, then key=value.
    emu.user_says(ALICE, "!shout hello times=2 style=stars")
    msg = await emu.wait_for(lambda m: "*HELLO* *HELLO*" in m.text() and "vCPU-s" in m.text(), timeout=30)
    assert any(name == "shout.txt" for name, *_ in msg.attachments) or any(
        a[0] == "shout.txt" for m in emu.messages() for a in m.attachments
    )
    assert "pitch" in msg.text()  # the table (embed fields) rendered

    # Slash form with typed options and an attachment.
    inter = emu.slash(
        ALICE,
        "shout",
        {"text": "hey", "times": 3, "loud": False, "pitch": 1.5},
        attachments={"file": ("note.txt", b"psst", "text/plain")},
    )
    msg = await emu.wait_for(lambda m: "hey hey hey" in m.text() and "vCPU-s" in m.text(), timeout=30)
    files = {a[0]: a[1] for m in emu.messages() for a in m.attachments}
    assert files.get("echo-note.txt") == b"psst"
    assert emu.interaction_responses(inter)[0]["type"] == 4  # answered by its status line

    # Billed like any job: the ledger names the agent and a cost.
    store = bot.core.store
    jobs = [j for j in await store.user_jobs(str(ALICE), limit=10) if j.command == "shout"]
    assert len(jobs) == 2 and all(j.total_usd and j.total_usd > 0 for j in jobs)
    assert {j.agent for j in jobs} == {"shouter"}

    # A bad argument is refused by the bot before anything is spent, in words.
    emu.user_says(ALICE, "!shout hi times=9")
    refusal = await emu.wait_for(lambda m: "`times` must be at most 5" in m.content, timeout=10)
    assert "usage: `!shout <text>" in refusal.content

    # And help lists it, from its manifest.
    emu.user_says(ALICE, "!help")
    helped = await emu.wait_for(lambda m: bool(m.embeds) and "Shout text back" in m.text(), timeout=10)
    assert "!shout hello times=2" in helped.text()


async def test_synced_built_in_commands_have_typed_options(emu: DiscordEmulator, bot: Running) -> None:
    cmds = synced(emu)
    chart = options(cmds["chart"])
    assert [c["value"] for c in chart["kind"]["choices"]] == ["line", "bar", "histogram", "scatter"]
    assert chart["file"]["type"] == ATTACHMENT and chart["file"]["required"] is True
    assert "CSV" in chart["file"]["description"]
    assert "args" not in chart  # no free-text catch-all any more
    tts = options(cmds["tts"])
    assert (tts["speed"]["min_value"], tts["speed"]["max_value"]) == (80, 400)
    assert [c["value"] for c in tts["format"]["choices"]] == ["mp3", "ogg", "wav"]
    assert tts["speed"]["description"] == "words per minute"
    enhance = options(cmds["enhance"])
    assert [c["value"] for c in enhance["scale"]["choices"]] == [1, 2, 4] and enhance["scale"][
        "type"
    ] == INTEGER
    scrape = options(cmds["scrape"])
    assert scrape["url"]["type"] == STRING and scrape["url"]["required"] is True
    assert options(cmds["style-transfer"])["strength"]["type"] == NUMBER
    # The admin commands are for administrators and servers only; job commands for everyone.
    for name in ("status", "cost", "budget"):
        assert str(cmds[name]["default_member_permissions"]) == "8"
        assert cmds[name].get("contexts") == [0]
    for name in ("shout", "chart", "tts"):
        assert cmds[name].get("default_member_permissions") is None


async def test_slash_chart_with_typed_options_gives_a_png(emu: DiscordEmulator, bot: Running) -> None:
    csv = b"month,revenue\njan,10\nfeb,12\nmar,15\n"
    emu.slash(
        ALICE,
        "chart",
        {"kind": "bar", "x": "month", "y": "revenue"},
        attachments={"file": ("s.csv", csv, "text/csv")},
    )
    msg = await emu.wait_for(lambda m: any(a[0].endswith(".png") for a in m.attachments), timeout=30)
    png = next(a for a in msg.attachments if a[0].endswith(".png"))
    assert png[1][:8] == b"\x89PNG\r\n\x1a\n"
    # Discord's client refuses a kind outside the choices before the bot sees it.
    with pytest.raises(ValueError, match="choices"):
        emu.slash(ALICE, "chart", {"kind": "pie"}, attachments={"file": ("s.csv", csv, "text/csv")})


async def test_changing_a_manifest_resyncs_exactly_once(
    emu: DiscordEmulator, bot: Running, shouter: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    def puts() -> int:
        return sum(1 for method, path in emu.requests if method == "PUT" and "/commands" in path)

    before = puts()
    assert before >= 1
    # Nothing changed: asking again syncs nothing.
    await bot.bot.sync_commands_if_changed()
    assert puts() == before

    class LouderArgs(ShoutArgs):
        echo: bool = Field(default=False, description="echo back")

    spec = AgentSpec(
        name="shouter",
        handlers={"shout": shout},
        commands=[SHOUTER.commands[0].model_copy(update={"args": LouderArgs})],
    )
    monkeypatch.setenv("SPOTRUN_AGENT_IMAGE", "shouter:v2")
    await shouter.deploy(spec)  # a new revision at the same URL
    report, _, _ = await bot.core.client.health("shouter")  # sees build 0.x@shouter:v2
    assert report is not None and report.build.endswith("@shouter:v2")
    for _ in range(100):
        if "echo" in options(synced(emu)["shout"]):
            break
        await asyncio.sleep(0.05)
    assert "echo" in options(synced(emu)["shout"])
    assert puts() == before + 1
    # The same build seen again (on a call, on /health): nothing to re-read, nothing to sync.
    await bot.core.client.health("shouter")
    await asyncio.sleep(0.3)
    assert puts() == before + 1
    state = bot.bot.catalog.agents["shouter"]
    assert "shouter:v2" in state.status_line() and "protocol 1.1" in state.status_line()


async def test_status_shows_each_agents_version_and_protocol(emu: DiscordEmulator, bot: Running) -> None:
    from tests.bot.conftest import ADMIN

    with pytest.raises(PermissionError):  # Discord refuses a non-admin: default_member_permissions
        emu.slash(ALICE, "status")
    inter = emu.slash(ADMIN, "status")
    msg = await emu.wait_for(lambda m: m.interaction_id == inter and bool(m.embeds), timeout=15)
    text = msg.text()
    for name in ("shouter", "web-scraper", "data-analysis"):
        assert name in text
    assert text.count("protocol 1.1") >= 3 and "version 0." in text


async def test_autocomplete_cancel_offers_only_the_callers_live_jobs(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    from tests.bot.conftest import BOB

    emu.user_says(ALICE, f"!scrape {site}/slow?s=6")
    emu.user_says(BOB, f"!scrape {site}/slow?s=6")
    store = bot.core.store
    for _ in range(100):
        mine = [j for j in await store.user_jobs(str(ALICE)) if j.state.value in ("queued", "running")]
        theirs = [j for j in await store.user_jobs(str(BOB)) if j.state.value in ("queued", "running")]
        if mine and theirs:
            break
        await asyncio.sleep(0.05)
    inter = emu.autocomplete(ALICE, "cancel", "job")
    choices = await emu.autocomplete_choices(inter)
    assert [c["value"] for c in choices] == [j.id for j in mine]
    assert "scrape" in choices[0]["name"]
    # What was typed narrows it; nothing of Bob's ever shows.
    inter = emu.autocomplete(ALICE, "cancel", "job", typed=theirs[0].id)
    assert await emu.autocomplete_choices(inter) == []
    for job in mine + theirs:
        await bot.core.engine.cancel(job.id, by="test")


async def test_autocomplete_monitor_remove_offers_this_servers_monitors(
    emu: DiscordEmulator, bot: Running
) -> None:
    from bot.jobs.store import MonitorCaps

    store, caps = bot.core.store, MonitorCaps(10, 10, 10)
    here = await store.add_monitor(
        url="https://example.com/a",
        interval_s=3600,
        user_id=str(ALICE),
        guild_id=str(emu.guild_id),
        channel_id=str(emu.channel_id),
        caps=caps,
    )
    await store.add_monitor(
        url="https://example.com/elsewhere",
        interval_s=3600,
        user_id=str(ALICE),
        guild_id="999",
        channel_id="998",
        caps=caps,
    )
    inter = emu.autocomplete(ALICE, "monitor", "monitor_id", subcommand="remove")
    choices = await emu.autocomplete_choices(inter)
    assert [c["value"] for c in choices] == [here.id]
    assert "example.com/a" in choices[0]["name"]


async def test_run_again_runs_the_same_command_for_its_author_only(
    emu: DiscordEmulator, bot: Running
) -> None:
    from tests.bot.conftest import BOB

    emu.user_says(ALICE, "!shout again times=2")
    first = await emu.wait_for(lambda m: "AGAIN AGAIN" in m.text() and "vCPU-s" in m.text(), timeout=30)
    button = next(c for row in first.components for c in row["components"] if c.get("label") == "Run again")
    # Someone else: refused, privately; nothing runs.
    refused = emu.click(BOB, first.id, button["custom_id"])
    msg = await emu.wait_for(lambda m: m.interaction_id == refused, timeout=10)
    assert "only the person who ran this command" in msg.content and msg.ephemeral
    # The author: a new job with the same arguments, its own status and result.
    emu.click(ALICE, first.id, button["custom_id"])
    for _ in range(200):
        jobs = [j for j in await bot.core.store.user_jobs(str(ALICE)) if j.command == "shout"]
        # Posted, not just succeeded: the state is recorded before the result is shown.
        if len(jobs) == 2 and all(j.state.value == "succeeded" and j.posted_at for j in jobs):
            break
        await asyncio.sleep(0.05)
    assert len(jobs) == 2 and jobs[0].id != jobs[1].id and jobs[0].args == jobs[1].args
    results = [m for m in emu.messages() if "AGAIN AGAIN" in m.text() and "vCPU-s" in m.text()]
    assert len(results) == 2
