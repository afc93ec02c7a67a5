"""The preemption drill: `spotrun bot` as a subprocess (as on the Spot node) against the Discord
emulator and the real web-scraper agent, SIGTERMed at every phase of a job's life and restarted.
Every result must be posted exactly once and no accepted command lost.

Timing control comes from the page the real scraper fetches (`?s=` seconds of delay), not from a
fake agent."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.bot.bot_process import BotProcess, registry
from tests.bot.conftest import ALICE, BOB, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.fakes.discord.state import Message
from tests.helpers import serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90), needs_agent("web-scraper")]


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """Pages titled `P<n>Q` (a marker no other page's title contains) served after `s` seconds."""

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "0")))
        n = request.query.get("n", "0")
        html = (
            f"<html><head><title>P{n}Q</title></head><body><article><h1>P{n}Q</h1>"
            f"<p>Report number {n}. The ferry runs hourly.</p></article></body></html>"
        )
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/p", handler)
    async with serve(app) as url:
        yield url


@pytest.fixture
async def scraper(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    from agents.common.settings import AgentSettings
    from agents.web_scraper.app import build

    monkeypatch.setenv("SPOTRUN_SCRAPER_ALLOW_PRIVATE_NETWORKS", "true")
    async with serve(build(AgentSettings(auth="none"))) as url:
        yield url


@pytest.fixture
def emu() -> Iterator[DiscordEmulator]:
    with DiscordEmulator(token="test-token") as emulator:
        emulator.add_user(ALICE, "alice")
        emulator.add_user(BOB, "bob")
        yield emulator


@pytest.fixture
def bot_process(tmp_path: Path, emu: DiscordEmulator) -> Iterator[list[BotProcess]]:
    made: list[BotProcess] = []
    yield made
    for proc in made:
        proc.kill()


def results(emu: DiscordEmulator, n: int) -> list[Message]:
    """The bot's result messages for page n: a status message become the result (nonce s<job>,
    with the receipt), or one posted on its own (r<i><job>)."""
    return [
        m
        for m in emu.messages()
        if f"P{n}Q" in m.text() and ((m.nonce or "").startswith("r") or "vCPU-s" in m.text())
    ]


def statuses(emu: DiscordEmulator) -> list[Message]:
    return [m for m in emu.messages() if (m.nonce or "").startswith("s")]


async def posted(emu: DiscordEmulator, numbers: list[int], timeout: float = 30) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not all(results(emu, n) for n in numbers):
        missing = [n for n in numbers if not results(emu, n)]
        assert time.monotonic() < deadline, f"results never posted for pages {missing}"
        await asyncio.sleep(0.1)


def assert_exactly_once(emu: DiscordEmulator, numbers: list[int]) -> None:
    counts = {n: len(results(emu, n)) for n in numbers}
    assert all(c == 1 for c in counts.values()), {n: c for n, c in counts.items() if c != 1}
    nonces = Counter(m.nonce for m in emu.messages() if m.nonce)
    assert all(c == 1 for c in nonces.values()), [n for n, c in nonces.items() if c > 1]
    assert not [m for m in emu.messages() if m.content.startswith("❌")], "a job failed"


def say(emu: DiscordEmulator, user: int, site: str, n: int, s: float) -> None:
    emu.user_says(user, f"!scrape {site}/p?n={n}&s={s}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_sigterm_while_queued_and_while_calling_the_agent(
    tmp_path: Path, emu: DiscordEmulator, site: str, scraper: str, bot_process: list[BotProcess],
    backend: str, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    database = {}
    if backend == "postgresql":
        database["SPOTRUN_DATABASE_URL"] = request.getfixturevalue("postgres").new_database()
    bot = BotProcess(tmp_path, emu, registry(tmp_path, scraper, 1), SPOTRUN_DRAIN_BUDGET_S="1", **database)
    bot_process.append(bot)
    await bot.start()
    say(emu, ALICE, site, 1, 4)  # (b) still calling the agent when SIGTERM comes
    await emu.wait_for(lambda m: "running on" in m.content, timeout=10)
    say(emu, BOB, site, 2, 0)  # (a) queued behind it: the agent takes one call at a time
    await emu.wait_for(lambda m: "queued — position 1" in m.content, timeout=10)

    took = await bot.sigterm()
    assert took < 5  # drain budget 1 s, then the gateway and the store close
    states = sorted(state for state, _ in bot.jobs().values())
    # Both handed back to the queue for the next process (any process), not cancelled.
    assert states == ["queued", "queued"]
    assert not results(emu, 1) and not results(emu, 2)

    await bot.start()
    await posted(emu, [1, 2])
    assert_exactly_once(emu, [1, 2])
    # Each job's status message was re-attached to (edited to its final line), never posted again.
    deadline = time.monotonic() + 10
    while not all("done" in m.content for m in statuses(emu)):
        assert time.monotonic() < deadline, [m.content for m in statuses(emu)]
        await asyncio.sleep(0.05)
    assert len(statuses(emu)) == 2
    resumed = [e for e in bot.events(2) if e.get("message") == "job resumed"]
    assert len(resumed) == 2
    await bot.sigterm()


async def test_drain_finishes_short_calls_and_keeps_commands_that_arrive_during_it(
    tmp_path: Path, emu: DiscordEmulator, site: str, scraper: str, bot_process: list[BotProcess]
) -> None:
    bot = BotProcess(tmp_path, emu, registry(tmp_path, scraper, 2), SPOTRUN_DRAIN_BUDGET_S="3")
    bot_process.append(bot)
    await bot.start()
    inter = emu.slash(ALICE, "scrape", {"url": f"{site}/p?n=1&s=6"})  # outlasts the drain
    say(emu, BOB, site, 2, 1)  # finishes within the drain budget
    await asyncio.sleep(0.5)
    assert bot.proc is not None
    bot.proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    say(emu, BOB, site, 3, 0)  # arrives while draining: stored, run after the restart
    ack = await emu.wait_for(lambda m: "restarting" in m.content, timeout=5)
    assert "it will run shortly after" in ack.content
    assert await bot.wait_exit(15) == 0
    assert len(results(emu, 2)) == 1  # posted during the drain
    assert not results(emu, 1) and not results(emu, 3)

    await bot.start()
    await posted(emu, [1, 2, 3])
    assert_exactly_once(emu, [1, 2, 3])
    (slash_result,) = results(emu, 1)
    # A restarted process cannot know whether a follow-up was sent: channel message with nonce.
    assert slash_result.interaction_id is None and slash_result.nonce is not None
    assert slash_result.content.startswith(f"<@{ALICE}>")
    assert not [r for r in emu.interaction_responses(inter) if r["kind"] == "followup"]
    await bot.sigterm()


async def test_sigterm_between_the_agent_reply_and_the_post(
    tmp_path: Path, emu: DiscordEmulator, site: str, scraper: str, bot_process: list[BotProcess]
) -> None:
    # Progress edits a minute apart: after the status message is created, its next edit is the
    # one that makes it the result.
    bot = BotProcess(
        tmp_path,
        emu,
        registry(tmp_path, scraper, 1),
        SPOTRUN_DRAIN_BUDGET_S="0.5",
        SPOTRUN_STATUS_EDIT_INTERVAL_S="60",
    )
    bot_process.append(bot)
    await bot.start()
    say(emu, ALICE, site, 1, 1)
    status = await emu.wait_for(lambda m: (m.nonce or "").startswith("s"), timeout=10)

    def edits() -> int:
        return sum(1 for r in emu.requests if r[0] == "PATCH" and r[1].endswith(f"/messages/{status.id}"))

    before = edits()
    # The edit that makes the status the result gets a 429: discord.py waits 5 s to retry it —
    # SIGTERM lands in that wait.
    emu.rate_limit_next(f"PATCH /channels/{status.channel_id}/messages/{status.id}", retry_after=5)
    deadline = time.monotonic() + 10
    while edits() == before:
        assert time.monotonic() < deadline, "the result was never posted"
        await asyncio.sleep(0.02)
    await bot.sigterm()
    ((state, posted_at),) = bot.jobs().values()
    assert state == "succeeded" and posted_at is None
    assert not results(emu, 1)

    await bot.start()
    await posted(emu, [1])
    await emu.wait_for(lambda m: m.content.startswith("✅ done"), timeout=10)
    await bot.sigterm()
    assert_exactly_once(emu, [1])
    ((state, posted_at),) = bot.jobs().values()
    assert posted_at is not None

    # A crash after Discord accepted the post but before the store recorded it: the nonce makes
    # Discord return the earlier message, so the next start does not duplicate it.
    with sqlite3.connect(bot.db) as db:
        db.execute("UPDATE jobs SET posted_at = NULL")
    await bot.start()
    deadline = time.monotonic() + 10
    while next(iter(bot.jobs().values()))[1] is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert_exactly_once(emu, [1])
    await bot.sigterm()


async def test_randomized_drill(
    tmp_path: Path, emu: DiscordEmulator, site: str, scraper: str, bot_process: list[BotProcess]
) -> None:
    rng = random.Random(int(os.environ.get("SPOTRUN_DRILL_SEED", "5")))
    bot = BotProcess(
        tmp_path,
        emu,
        registry(tmp_path, scraper, 2),
        SPOTRUN_DRAIN_BUDGET_S="0.5",
        SPOTRUN_MAX_QUEUED_PER_USER="100",
        SPOTRUN_LOG_LEVEL="WARNING",
    )
    bot_process.append(bot)
    jobs, sigterms, per_round = 0, 3, 10
    for _ in range(sigterms):
        await bot.start()
        batch = list(range(jobs, jobs + per_round))
        for n in batch:
            say(emu, (ALICE, BOB)[n % 2], site, n, round(rng.uniform(0.05, 0.8), 2))
        jobs += per_round
        deadline = time.monotonic() + 15  # every command was accepted (its status message exists)
        while len(statuses(emu)) < jobs:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(rng.uniform(0.2, 2.5))
        await bot.sigterm()
    await bot.start()
    await posted(emu, list(range(jobs)), timeout=40)
    await bot.sigterm()
    assert_exactly_once(emu, list(range(jobs)))
    assert all(state == "succeeded" and at is not None for state, at in bot.jobs().values())
    assert max(bot.exit_times) < 5
    print(f"drill: {jobs} jobs, {sigterms} SIGTERMs, exits {[round(t, 2) for t in bot.exit_times]} s")


async def test_crash_loop_backs_off_before_each_identify(
    tmp_path: Path, emu: DiscordEmulator, scraper: str, bot_process: list[BotProcess]
) -> None:
    bot = BotProcess(tmp_path, emu, registry(tmp_path, scraper, 1), SPOTRUN_LOGIN_BACKOFF_S="0 1 2 60")
    bot_process.append(bot)
    waits = []
    for _ in range(4):  # crash right after connecting, as a bad release would
        spawned = time.monotonic()
        await bot.start()
        waits.append(time.monotonic() - spawned)
        assert bot.proc is not None
        bot.proc.kill()
        bot.proc.wait()
    assert emu.identify_count == 4
    backoffs = [
        e["wait_s"]
        for n in range(1, 5)
        for e in bot.events(n)
        if str(e.get("message", "")).startswith("crash-loop")
    ]
    assert backoffs == [1.0, 2.0]
    # Each start took at least its backoff (start-up time itself varies too much on a shared
    # machine to compare starts with each other).
    assert waits[2] >= 1.0 and waits[3] >= 2.0
    causes = [
        e.get("previous_cause")
        for n in range(1, 5)
        for e in bot.events(n)
        if e.get("message") == "bot started"
    ]
    assert causes == [None, "crash", "crash", "crash"]

    # The fifth start would wait 60 s: a SIGTERM during the backoff ends it at once, no IDENTIFY.
    await bot.start(wait_ready=False)
    # SIGTERM once the process is in its backoff (it logged it), not after a fixed sleep: on a busy
    # machine the interpreter may still be importing, before any handler exists.
    deadline = time.monotonic() + 30
    while not any(str(e.get("message", "")).startswith("crash-loop") for e in bot.events(5)):
        assert time.monotonic() < deadline, "the fifth start never reached its backoff"
        await asyncio.sleep(0.1)
    took = await bot.sigterm()
    assert took < 2 and emu.identify_count == 4
