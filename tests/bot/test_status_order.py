"""What a user sees over time: the status message reaches its final line with (or before) the
result, every elapsed time it shows is true when shown, and a failed job states its error once.

Order and timing are read at the Discord emulator (its timeline of message creations and edits),
not inside the bot."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from bot.jobs.store import JobState
from bot.runtime.main import Running, start_bot
from bot.settings import BotSettings
from spotrun.config import load_settings
from tests.bot.conftest import ALICE, BOB, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.fakes.discord.state import Event

pytestmark = pytest.mark.timeout(90)

INTERVAL_S = 2.5  # the status edit interval: long enough that a throttled edit is visibly late


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token="test-token")
    emulator.start()
    emulator.add_user(ALICE, "alice")
    with emulator.patch_discord():
        yield emulator
    emulator.stop()


@pytest.fixture
async def site() -> AsyncIterator[str]:
    from tests.helpers import serve

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "0")))
        html = (
            "<html><head><title>Tide Tables</title></head><body><article><h1>Tide Tables</h1>"
            "<p>High water at noon.</p></article></body></html>"
        )
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/p", handler)
    async with serve(app) as url:
        yield url


@pytest.fixture
async def bot(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    monkeypatch.setenv("SPOTRUN_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("SPOTRUN_DISCORD_API_BASE", emu.api_base)
    monkeypatch.setenv("SPOTRUN_SYNC_GUILD_IDS", str(emu.guild_id))
    monkeypatch.setenv("SPOTRUN_STATUS_EDIT_INTERVAL_S", str(INTERVAL_S))
    monkeypatch.setenv("SPOTRUN_WAKING_AFTER_S", "120")  # plain "running… N s" lines only
    running = await start_bot(load_settings(BotSettings))
    await emu.wait_for_ready()
    yield running
    await running.stop()


def job_of(status_nonce: str | None) -> str:
    assert status_nonce is not None and status_nonce.startswith("s"), status_nonce
    return status_nonce[1:]


def events_of(emu: DiscordEmulator, message_id: int) -> list[Event]:
    return [e for e in emu.timeline() if e.message_id == message_id]


@needs_agent("web-scraper")
async def test_status_is_final_before_the_result_and_its_seconds_are_true(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    emu.user_says(ALICE, f"!scrape {site}/p?s=7")
    result = await emu.wait_for(lambda m: "Tide Tables" in m.text() and "vCPU-s" in m.text(), timeout=30)
    await asyncio.sleep(INTERVAL_S + 0.5)  # a late final edit would land in this window
    status = next(m for m in emu.messages() if (m.nonce or "").startswith("s"))
    job = await bot.core.store.get(job_of(status.nonce))
    assert job is not None and job.started_at is not None

    timeline = emu.timeline()
    # One message per job: the status message becomes the result, so the result "arrives" at the
    # first write of that message that shows it (the final line rides in the same write).
    assert result.id == status.id, "the result should be an edit of the status message"
    result_at = next(
        i for i, e in enumerate(timeline) if e.message_id == result.id and "Tide Tables" in e.text
    )
    status_events = [(i, e) for i, e in enumerate(timeline) if e.message_id == status.id]
    # Every "running… N s" line says how long the job had been running when it was shown.
    shown = [
        (e.at - job.started_at, int(m.group(1)))
        for _, e in status_events
        if (m := re.search(r"running on the .*?(\d+) s", e.text))
    ]
    assert len(shown) >= 2, [e.text for _, e in status_events]
    wrong = [(round(true, 2), said) for true, said in shown if abs(true - said) > 1.2]
    assert not wrong, f"(true elapsed, shown) pairs that disagree: {wrong}"

    final = [i for i, e in status_events if "done" in e.text]
    assert final, [e.text for _, e in status_events]
    # The user never sees the result next to a status that still says "running": the final line
    # is written with (in the same edit as) or before the result.
    assert final[0] <= result_at and "running" not in timeline[result_at].text, [
        (i, e.text) for i, e in status_events
    ] + [(result_at, "RESULT")]
    assert not [e for i, e in status_events if i > result_at], "the status changed after the result"


@pytest.mark.agents_down("image-gen")
async def test_a_failed_job_states_its_error_once_and_the_status_is_final_first(
    emu: DiscordEmulator, bot: Running
) -> None:
    emu.user_says(ALICE, "!generate a lighthouse")
    said = "down right now"
    error = await emu.wait_for(lambda m: said in m.content, timeout=30)
    await asyncio.sleep(INTERVAL_S + 0.5)
    visible = [m for m in emu.messages() if not m.deleted and said in m.text()]
    assert [m.id for m in visible] == [error.id], [m.text() for m in visible]

    # The status message became the error: one message, plain words, no button, nothing after.
    status = next(m for m in emu.messages() if (m.nonce or "").startswith("s"))
    assert status.id == error.id
    assert error.content.startswith("❌ the image agent is down right now") and not error.embeds
    assert error.components == []
    assert said in events_of(emu, status.id)[-1].text, "the status changed after the error"
    assert len([m for m in emu.messages() if m.author_id == emu.bot_user_id]) == 1


@needs_agent("web-scraper")
async def test_positions_shown_to_a_burst_from_two_users_settle_on_the_true_order(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    emu.add_user(BOB, "bob")
    for _ in range(2):  # the agent's two slots, busy for the whole test
        emu.user_says(ALICE, f"!scrape {site}/p?s=20")
    await until_true(lambda: sum("running on" in m.content for m in emu.messages()) == 2, "two running")
    for user in (ALICE, BOB, ALICE, BOB, ALICE):
        emu.user_says(user, f"!scrape {site}/p")

    def shown() -> dict[str, int]:
        return {
            job_of(m.nonce): int(p[1])
            for m in emu.messages()
            if (p := re.search(r"queued — position (\d+)", m.content))
        }

    await until_true(lambda: len(shown()) == 5, f"five queued: {shown()}")
    waiting = await bot.core.store.jobs_in(JobState.QUEUED)
    by_user: dict[str, list[str]] = {}
    for job in sorted(waiting, key=lambda j: j.created_at):
        by_user.setdefault(job.user_id, []).append(job.id)
    # Round-robin between users in the order they joined the queue, FIFO per user.
    lanes = list(by_user.values())
    expected = [lane[i] for i in range(max(map(len, lanes))) for lane in lanes if i < len(lane)]
    truth = {job_id: n for n, job_id in enumerate(expected, start=1)}
    await until_true(lambda: shown() == truth, f"shown {shown()} but the queue is {truth}", 3 * INTERVAL_S)


async def until_true(check: Callable[[], object], what: str, timeout: float = 15) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)
