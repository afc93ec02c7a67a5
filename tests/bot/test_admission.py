"""A burst of commands past a user's limit, through the Discord emulator into `spotrun bot` as a
subprocess: what is refused is never stored, listed, counted, run or posted — not even after a
restart — and the queue positions shown to what was accepted are right."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.bot.bot_process import BotProcess, registry
from tests.bot.conftest import ADMIN, ALICE, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.fakes.discord.state import Message
from tests.helpers import serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), needs_agent("web-scraper")]

BURST = 8
MAX_RUNNING, MAX_QUEUED = 1, 2


@pytest.fixture
async def site() -> AsyncIterator[tuple[str, list[int]]]:
    """Pages titled `P<n>Q`, served after `s` seconds; the list records every page fetched."""
    fetched: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        n = int(request.query["n"])
        fetched.append(n)
        await asyncio.sleep(float(request.query.get("s", "0")))
        html = f"<html><head><title>P{n}Q</title></head><body><article><p>Report {n}.</p></article></body>"
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/p", handler)
    async with serve(app) as url:
        yield url, fetched


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
        emulator.add_user(ADMIN, "boss", admin=True)
        yield emulator


@pytest.fixture(params=["sqlite", "postgresql"])
def bot(
    request: pytest.FixtureRequest, tmp_path: Path, emu: DiscordEmulator, scraper: str
) -> Iterator[BotProcess]:
    database = {}
    if request.param == "postgresql":
        database["SPOTRUN_DATABASE_URL"] = request.getfixturevalue("postgres").new_database()
    proc = BotProcess(
        tmp_path,
        emu,
        registry(tmp_path, scraper, 1),
        **database,
        SPOTRUN_MAX_RUNNING_PER_USER=str(MAX_RUNNING),
        SPOTRUN_MAX_QUEUED_PER_USER=str(MAX_QUEUED),
        SPOTRUN_DRAIN_BUDGET_S="0.5",
        SPOTRUN_LOG_LEVEL="WARNING",
    )
    yield proc
    proc.kill()


def replies_to(emu: DiscordEmulator, origin: int) -> list[Message]:
    return [
        m
        for m in emu.messages()
        if m.message_reference and int(m.message_reference["message_id"]) == origin and not m.deleted
    ]


def is_status(m: Message) -> bool:
    return (m.nonce or "").startswith("s")


def is_result(m: Message, n: int) -> bool:
    return f"P{n}Q" in m.text() and "vCPU-s" in m.text()


async def until(check: object, what: str, timeout: float = 20) -> None:  # noqa: ASYNC109 - polls
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def slash(emu: DiscordEmulator, user: int, name: str, shows: str) -> str:
    """What a slash command answers (privately) once its answer contains the pattern `shows`."""
    inter = emu.slash(user, name)

    def answer() -> str:
        return "\n".join(m.text() for m in emu.messages() if m.interaction_id == inter)

    await until(lambda: re.search(shows, answer()), f"/{name} answered {answer()!r}")
    return answer()


async def status_counts(emu: DiscordEmulator) -> tuple[int, int]:
    """(queued, running) as /status shows them to an admin."""
    match = re.search(r"queued (\d+) · running (\d+)", await slash(emu, ADMIN, "status", "running"))
    assert match is not None
    return int(match[1]), int(match[2])


def job_ids_listed(text: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z0-9_-]{6,})`", text))


async def test_a_refused_burst_is_never_stored_listed_counted_run_or_posted(
    emu: DiscordEmulator, bot: BotProcess, site: tuple[str, list[int]]
) -> None:
    url, fetched = site
    await bot.start()
    # One user's burst, all at once: each page takes 3 s, the agent runs one call at a time.
    origins = {emu.user_says(ALICE, f"!scrape {url}/p?n={n}&s=3"): n for n in range(BURST)}
    await until(
        lambda: all(replies_to(emu, o) for o in origins), "a command of the burst got no answer", timeout=20
    )
    accepted = {n for o, n in origins.items() if any(is_status(m) for m in replies_to(emu, o))}
    refused = {n for o, n in origins.items() if n not in accepted}
    assert len(accepted) == MAX_RUNNING + MAX_QUEUED, {
        n: [m.text() for m in replies_to(emu, o)] for o, n in origins.items()
    }
    for o, n in origins.items():
        if n in refused:
            (refusal,) = replies_to(emu, o)
            assert "limit" in refusal.text().lower(), refusal.text()

    # While the first runs: the others show distinct, true positions (1 and 2), and only the
    # accepted jobs are listed and counted.
    status_of = {
        n: next(m for m in replies_to(emu, o) if is_status(m)) for o, n in origins.items() if n in accepted
    }
    job_of = {n: (m.nonce or "")[1:] for n, m in status_of.items()}

    def positions() -> list[str]:
        current = {m.id: m.content for m in emu.messages()}
        return sorted(
            re.sub(r".*(position \d+).*", r"\1", current[m.id])
            for m in status_of.values()
            if "queued" in current[m.id]
        )

    await until(
        lambda: positions() == ["position 1", "position 2"], f"queue positions shown: {positions()}", 5
    )
    listed = job_ids_listed(await slash(emu, ALICE, "jobs", "scrape"))
    assert listed == set(job_of.values())
    queued, running = await status_counts(emu)
    assert (queued, running) == (MAX_QUEUED, MAX_RUNNING)
    assert len(bot.jobs()) == len(accepted)

    # A restart (as on Spot) resumes what was accepted, and nothing else.
    await bot.sigterm()
    await bot.start()
    await until(
        lambda: all(any(is_result(m, n) for m in emu.messages()) for n in accepted),
        "an accepted command's result was never posted",
        timeout=40,
    )
    await asyncio.sleep(2)  # a refused command resumed by mistake would be fetched and posted here
    assert not [n for n in fetched if n in refused], f"refused pages were fetched: {fetched}"
    assert not [m.text() for n in refused for m in emu.messages() if is_result(m, n)]
    assert job_ids_listed(await slash(emu, ALICE, "jobs", "scrape")) == set(job_of.values())
    assert await status_counts(emu) == (0, 0)
    assert {state for state, _ in bot.jobs().values()} == {"succeeded"} and len(bot.jobs()) == len(accepted)
    await bot.sigterm()
