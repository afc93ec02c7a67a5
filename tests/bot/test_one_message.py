"""One message per job: the status message becomes the result (files and Run again included),
a follow-up only when the result needs a second message, and two REST calls for a simple command.

Counted and read at the Discord emulator, with the real bot and the real agents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.jobs.store import Job
from bot.runtime.main import Running, start_bot
from bot.settings import BotSettings
from spotrun.config import load_settings
from tests.bot.conftest import ALICE, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.helpers import serve

pytestmark = pytest.mark.timeout(90)

CSV = b"date,revenue\n2024-01-01,10\n2024-01-02,12\n2024-01-03,15\n2024-01-04,11\n"


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token="test-token", application_id=1000, bot_user_id=1000)
    emulator.start()
    emulator.add_user(ALICE, "alice")
    with emulator.patch_discord():
        yield emulator
    emulator.stop()


@pytest.fixture
async def bot(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    monkeypatch.setenv("SPOTRUN_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("SPOTRUN_DISCORD_API_BASE", emu.api_base)
    monkeypatch.setenv("SPOTRUN_SYNC_GUILD_IDS", str(emu.guild_id))
    # The default edit interval (the tests' 0.3 s would add a progress edit to any job)
    monkeypatch.setenv("SPOTRUN_STATUS_EDIT_INTERVAL_S", "3")
    running = await start_bot(load_settings(BotSettings))
    await emu.wait_for_ready()
    yield running
    await running.stop()


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """A short page and a long one (its text needs more embeds than one message holds)."""

    def html(title: str, paragraphs: list[str]) -> str:
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        head = f"<html><head><title>{title}</title></head>"
        return f"{head}<body><article><h1>{title}</h1>{body}</article></body></html>"

    async def short(request: web.Request) -> web.Response:
        return web.Response(text=html("Harbour Notes", ["The ferry runs hourly."]), content_type="text/html")

    async def long(request: web.Request) -> web.Response:
        words = [
            f"Paragraph {i}: " + "the tide turns slowly over the long grey harbour wall " * 8
            for i in range(60)
        ]
        return web.Response(text=html("Tide Almanac", words), content_type="text/html")

    app = web.Application()
    app.router.add_get("/short", short)
    app.router.add_get("/long", long)
    async with serve(app) as url:
        yield url


def buttons(msg) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.get("label") for row in msg.components for c in row["components"]]


async def recorded(bot: Running, job_id: str) -> Job:
    """The job once its post is recorded: right after the edit Discord shows (on PostgreSQL the
    test can read the store in between)."""
    for _ in range(100):
        job = await bot.core.store.get(job_id)
        if job is not None and job.posted_at is not None:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id}: its post was never recorded")


def bot_calls(emu: DiscordEmulator) -> list[tuple[str, str]]:
    """Requests about messages and interactions: what a command costs (not the gateway's setup)."""
    return [
        (m, p) for m, p in emu.requests if "/messages" in p or p.startswith(("/interactions/", "/webhooks/"))
    ]


@needs_agent("web-scraper")
async def test_a_simple_command_costs_two_rest_calls_and_its_status_becomes_the_result(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    before = len(bot_calls(emu))
    origin = emu.user_says(ALICE, f"!scrape {site}/short")
    msg = await emu.wait_for(lambda m: "Harbour Notes" in m.text() and "vCPU-s" in m.text(), timeout=30)
    await emu.wait_for(lambda m: bool(buttons(m)) and buttons(m) == ["Run again"], timeout=5)
    calls = bot_calls(emu)[before:]
    # POST the status message, PATCH it into the result: nothing else.
    assert [m for m, _ in calls] == ["POST", "PATCH"], calls
    assert msg.nonce == f"s{msg.nonce[1:]}" and (msg.nonce or "").startswith("s")
    mine = [
        m for m in emu.messages() if m.message_reference and int(m.message_reference["message_id"]) == origin
    ]
    assert [m.id for m in mine] == [msg.id]  # one message for the job
    assert mine[0].content.startswith("✅ done in") and "running" not in mine[0].content
    job = await recorded(bot, msg.nonce[1:])
    assert job.result_message_id == str(msg.id)


@needs_agent("data-analysis")
async def test_a_slash_chart_arrives_as_an_edit_of_its_status_response_with_its_png(
    emu: DiscordEmulator, bot: Running
) -> None:
    before = len(bot_calls(emu))
    inter = emu.slash(
        ALICE,
        "chart",
        {"kind": "bar", "x": "date", "y": "revenue", "title": "Revenue"},
        attachments={"file": ("s.csv", CSV, "text/csv")},
    )
    msg = await emu.wait_for(lambda m: any(a[0].endswith(".png") for a in m.attachments), timeout=30)
    assert msg.interaction_id is not None and msg.edits  # the status response, edited
    png = next(a for a in msg.attachments if a[0].endswith(".png"))
    assert png[1][:8] == b"\x89PNG\r\n\x1a\n"
    assert buttons(msg) == ["Run again"]
    responses = emu.interaction_responses(inter)
    assert responses[0]["type"] == 4 and not [r for r in responses if r["kind"] == "followup"]
    calls = bot_calls(emu)[before:]
    # The status line as the response, its progress lines (a chart takes a few intervals), the
    # result: all edits of the one response, never a second message.
    assert calls[0][0] == "POST" and calls[0][1].endswith("/callback"), calls
    assert all(m == "PATCH" and p.endswith("/messages/@original") for m, p in calls[1:]), calls


@needs_agent("web-scraper")
async def test_a_simple_slash_command_costs_two_rest_calls(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    before = len(bot_calls(emu))
    inter = emu.slash(ALICE, "scrape", {"url": f"{site}/short"})
    msg = await emu.wait_for(
        lambda m: m.interaction_id == inter and "Harbour Notes" in m.text() and buttons(m) == ["Run again"],
        timeout=30,
    )
    calls = bot_calls(emu)[before:]
    # The status line answers the interaction; one edit makes it the result. (Was: a defer, the
    # status line as an edit, the result as another: three.)
    assert len(calls) == 2, calls
    assert calls[0][0] == "POST" and calls[0][1].endswith("/callback"), calls
    assert calls[1][0] == "PATCH" and calls[1][1].endswith("/messages/@original"), calls
    assert [r["type"] for r in emu.interaction_responses(inter) if r["kind"] == "callback"] == [4]
    assert msg.content.startswith("✅ done in") and not msg.ephemeral


@needs_agent("web-scraper")
async def test_a_slow_slash_command_is_deferred_in_time_and_still_becomes_one_message(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    # As if downloading the attachments or reaching the store took past the answer deadline.
    monkeypatch.setenv("SPOTRUN_SLASH_ACK_AFTER_S", "0")
    monkeypatch.setenv("SPOTRUN_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("SPOTRUN_DISCORD_API_BASE", emu.api_base)
    monkeypatch.setenv("SPOTRUN_SYNC_GUILD_IDS", str(emu.guild_id))
    running = await start_bot(load_settings(BotSettings))
    try:
        await emu.wait_for_ready()
        inter = emu.slash(ALICE, "scrape", {"url": f"{site}/short"})
        msg = await emu.wait_for(
            lambda m: m.interaction_id == inter and buttons(m) == ["Run again"], timeout=30
        )
        responses = emu.interaction_responses(inter)
        assert [r["type"] for r in responses if r["kind"] == "callback"] == [5]  # deferred
        assert not [r for r in responses if r["kind"].endswith("rejected")]
        assert "Harbour Notes" in msg.text() and msg.content.startswith("✅ done in")
        assert [m.id for m in emu.messages() if not m.deleted] == [msg.id]
    finally:
        await running.stop()


@needs_agent("web-scraper")
async def test_a_result_needing_two_messages_gets_exactly_one_follow_up(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    # 60 paragraphs of ~450 characters: about 6000 characters of text, more than one message's embeds.
    origin = emu.user_says(ALICE, f"!extract {site}/long p limit=60")
    await emu.wait_for(lambda m: "vCPU-s" in m.text(), timeout=30)
    await emu.wait_for(lambda m: buttons(m) == ["Run again"], timeout=5)
    mine = [
        m for m in emu.messages() if m.message_reference and int(m.message_reference["message_id"]) == origin
    ]
    assert len(mine) == 2, [m.text()[:80] for m in mine]
    status, follow_up = mine
    assert (status.nonce or "").startswith("s") and "match" in status.text() and status.embeds
    assert (follow_up.nonce or "").startswith("r1") and "continued" in follow_up.text()
    # Run again under the whole result; the Cancel button gone from the status.
    assert buttons(status) == [] and buttons(follow_up) == ["Run again"]


@pytest.mark.agents_down("image-gen")
async def test_a_failed_slash_job_tells_its_user_alone_in_one_message(
    emu: DiscordEmulator, bot: Running
) -> None:
    inter = emu.slash(ALICE, "generate", {"prompt": "a lighthouse"})
    error = await emu.wait_for(
        lambda m: m.interaction_id == inter and m.content.startswith("❌") and not m.deleted, timeout=30
    )
    assert "the image agent is down right now" in error.content and error.ephemeral
    assert not error.embeds and error.components == []
    await asyncio.sleep(0.5)
    # The public status is gone; the error is the job's one visible message, said once.
    shown = [m for m in emu.messages() if not m.deleted]
    assert [m.id for m in shown] == [error.id], [m.text()[:60] for m in shown]
    (job,) = await bot.core.store.user_jobs(str(ALICE))
    job = await recorded(bot, job.id)
    assert job.result_message_id == str(error.id)
