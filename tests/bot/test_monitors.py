"""Monitors end to end (issue 15 item 4, issue 16): the real bot against the Discord emulator and the
real scraper agent on loopback pages — intervals with units, duplicates, atomic caps (guild, DM,
user), checks as billed jobs under the budget, a supervised scheduler, restarts, selector/ignore/diff."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from bot.billing.ledger import Ledger
from bot.jobs.store import JobState, Monitor
from bot.runtime.main import Running
from tests.bot.conftest import ADMIN, ALICE, BOB, needs_agent
from tests.bot.test_e2e_lifecycle import emu, start  # noqa: F401 - shared fixtures
from tests.fakes.discord import DiscordEmulator
from tests.helpers import serve

pytestmark = [pytest.mark.timeout(90), needs_agent("web-scraper")]

FAST = {"SPOTRUN_MONITOR_INTERVAL_MIN_S": "0.2", "SPOTRUN_MONITOR_TICK_S": "0.1"}


class Pages:
    """Loopback pages a test rewrites as it goes: path -> (status, body html)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str]] = {}
        self.hits: dict[str, int] = {}
        self.url = ""

    def set(self, path: str, body: str, *, title: str = "Harbour News", status: int = 200) -> str:
        html = f"<html><head><title>{title}</title></head><body><article>{body}</article></body></html>"
        self.pages[path] = (status, html)
        return f"{self.url}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        status, html = self.pages.get(request.path, (404, "<html><body>gone</body></html>"))
        return web.Response(status=status, text=html, content_type="text/html")


@pytest.fixture
async def pages() -> AsyncIterator[Pages]:
    site = Pages()
    app = web.Application()
    app.router.add_get("/{tail:.*}", site.handle)
    async with serve(app) as url:
        site.url = url
        yield site


async def until(check: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:  # noqa: ASYNC109
    """Poll `check` (plain or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


async def monitor_of(running: Running, url: str) -> Monitor:
    mons = [m for m in await running.core.store.monitors() if m.url == url]
    assert len(mons) == 1, mons
    return mons[0]


def article(*paragraphs: str) -> str:
    return "".join(f"<p>{p}</p>" for p in paragraphs)


# --------------------------------------------------------------------------- intervals, duplicates


async def test_intervals_take_their_unit_and_are_echoed_as_given(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    running = await start(emu, monkeypatch, SPOTRUN_MONITOR_TICK_S="600")
    try:
        cases = {"2h": 7200, "10m": 600, "1d": 86_400, "45": 2700, "300s": 300}
        for i, (given, seconds) in enumerate(cases.items()):
            url = pages.set(f"/i{i}", article("text"))
            emu.user_says(ALICE, f"!monitor {url} {given}")
            ack = await emu.wait_for(lambda m, u=url: "watching" in m.content and u in m.content)
            shown = "45 min" if given == "45" else given
            assert f"every {shown} as" in ack.content
            assert (await monitor_of(running, url)).interval_s == seconds
        url = pages.set("/short", article("text"))
        emu.user_says(ALICE, f"!monitor {url} 30s")
        refusal = await emu.wait_for(lambda m: "shortest interval" in m.content)
        assert "the shortest interval is 5m" in refusal.content and "30s" in refusal.content
        emu.user_says(ALICE, f"!monitor {url} soon")
        await emu.wait_for(lambda m: "not an interval" in m.content)
        assert not [m for m in await running.core.store.monitors() if m.url == url]
    finally:
        await running.stop()


async def test_the_same_url_twice_in_a_channel_is_refused(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    running = await start(emu, monkeypatch, SPOTRUN_MONITOR_TICK_S="600")
    try:
        url = pages.set("/dup", article("text"))
        emu.user_says(ALICE, f"!monitor {url} 2h")
        ack = await emu.wait_for(lambda m: "watching" in m.content)
        mon_id = ack.content.rsplit("`", 2)[1]
        emu.user_says(BOB, f"!monitor {url} 10m")
        refusal = await emu.wait_for(lambda m: "already watches" in m.content)
        assert mon_id in refusal.content and "every 2h" in refusal.content
        other = emu.add_channel(emu.world.ids.next(), "elsewhere")
        emu.user_says(BOB, f"!monitor {url} 10m", channel_id=other)
        await emu.wait_for(lambda m: "watching" in m.content and m.channel_id == other)
        assert len([m for m in await running.core.store.monitors() if m.url == url]) == 2
        # Only its owner (or a server manager) may remove a monitor.
        emu.user_says(BOB, f"!monitor remove {mon_id}")
        await emu.wait_for(lambda m: "may remove it" in m.content)
        emu.user_says(ADMIN, f"!monitor remove {mon_id}")
        await emu.wait_for(lambda m: "stopped watching" in m.content)
        assert await running.core.store.get_monitor(mon_id) is None
    finally:
        await running.stop()


# ----------------------------------------------------------------------------------------- caps


async def test_concurrent_monitor_commands_past_the_cap_store_exactly_the_cap(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    running = await start(emu, monkeypatch, SPOTRUN_MONITORS_PER_GUILD="3", SPOTRUN_MONITOR_TICK_S="600")
    try:
        for i in range(10):  # all at once: each is handled in its own task
            emu.user_says(ALICE if i % 2 else BOB, f"!monitor {pages.url}/c{i} 2h")
        await until(
            lambda: sum("watching" in m.content or "limit" in m.content for m in emu.messages()) == 10,
            what="ten answers",
        )
        assert len(await running.core.store.monitors(str(emu.guild_id))) == 3
        refusals = [m for m in emu.messages() if "this server already has 3 monitors" in m.content]
        assert len(refusals) == 7
    finally:
        await running.stop()


async def test_dm_and_per_user_caps(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    caps = {"SPOTRUN_MONITORS_PER_DM": "2", "SPOTRUN_MONITORS_PER_USER": "3"}
    running = await start(emu, monkeypatch, **caps, SPOTRUN_MONITOR_TICK_S="600")
    try:
        dm = emu.dm_channel(BOB)
        for i in range(4):
            emu.user_says(BOB, f"!monitor {pages.url}/d{i} 2h", channel_id=dm)
        await until(
            lambda: len([m for m in emu.messages(dm) if m.author_id != BOB]) == 4,
            what="four answers in the DM",
        )
        assert len(await running.core.store.monitors(channel_id=str(dm))) == 2
        assert sum("you already have 2 monitors in this DM" in m.content for m in emu.messages(dm)) == 2
        # In DMs `list` shows that DM's monitors only, never everyone's.
        emu.user_says(ALICE, f"!monitor {pages.url}/guild 2h")
        await emu.wait_for(lambda m: "watching" in m.content and "/guild" in m.content)
        emu.user_says(BOB, "!monitor list", channel_id=dm)
        listing = await emu.wait_for(lambda m: m.channel_id == dm and "last check" in m.content)
        assert "/guild" not in listing.content and listing.content.count("every 2h") == 2
        # Per user, everywhere: Bob has 2 in his DM; one in the server reaches his cap of 3.
        emu.user_says(BOB, f"!monitor {pages.url}/b1 2h")
        await emu.wait_for(lambda m: "watching" in m.content and "/b1" in m.content)
        emu.user_says(BOB, f"!monitor {pages.url}/b2 2h")
        await emu.wait_for(lambda m: "you already own 3 monitors" in m.content)
        assert len([m for m in await running.core.store.monitors() if m.user_id == str(BOB)]) == 3
    finally:
        await running.stop()


# --------------------------------------------------------------------------- checks are jobs


async def test_a_check_is_a_billed_job_and_is_refused_when_the_budget_is_exhausted(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    running = await start(emu, monkeypatch, **FAST, SPOTRUN_MONITOR_BACKOFF_MAX_S="0.5")
    store = running.core.store
    try:
        url = pages.set("/billed", article("The ferry runs hourly."))
        emu.user_says(ALICE, f"!monitor {url} 1s")
        await emu.wait_for(lambda m: "watching" in m.content)

        async def billed_check() -> Any:
            jobs = [j for j in await store.user_jobs(str(ALICE)) if j.state is JobState.SUCCEEDED]
            return jobs and jobs[0].total_usd and jobs[0]

        job = await until(billed_check, what="a billed check job")
        assert job.command == "scrape" and job.frontend == "monitor" and job.guild_id == str(emu.guild_id)
        assert job.total_usd > 0
        # Its result is not posted as a job result: no status message, no result embed.
        assert not any("Harbour News" in m.text() for m in emu.messages())
        emu.user_says(ALICE, "!jobs")
        await emu.wait_for(lambda m: job.id in m.content and "scrape" in m.content)
        emu.user_says(ADMIN, "!cost")
        cost = await emu.wait_for(lambda m: any("Cost" in (e.get("title") or "") for e in m.embeds))
        assert "`scrape`" in cost.text() and f"<@{ALICE}>" in cost.text()

        prices = running.core.engine.runner.prices
        await Ledger(store, prices).set_budget(str(emu.guild_id), None, 1e-9, by="test")
        mon = await monitor_of(running, url)
        refused = await until(lambda: _failing(running, url), what="a refused check")
        assert "budget" in (refused.last_error or "")
        notice = await emu.wait_for(lambda m: "is failing" in m.content and mon.id in m.content)
        assert "monthly budget" in notice.content
        assert notice.allowed_mentions is not None and notice.allowed_mentions.get("parse") == []
        checks_before = len(await store.user_jobs(str(ALICE), limit=1000))
        await until(lambda: _failures_at_least(running, url, 3), what="three refused checks")
        assert len(await store.user_jobs(str(ALICE), limit=1000)) == checks_before  # nothing ran
        assert sum("is failing" in m.content for m in emu.messages()) == 1  # told once
    finally:
        await running.stop()


async def _failing(running: Running, url: str) -> Monitor | None:
    mon = await monitor_of(running, url)
    return mon if mon.failures else None


async def _failures_at_least(running: Running, url: str, n: int) -> bool:
    return (await monitor_of(running, url)).failures >= n


# ------------------------------------------------------------------------------- supervision


async def test_a_failing_monitor_does_not_stop_others_and_its_owner_hears_once_each_way(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    running = await start(emu, monkeypatch, **FAST, SPOTRUN_MONITOR_BACKOFF_MAX_S="0.6")
    try:
        bad = pages.set("/flaky", article("Up."), status=500)
        good = pages.set("/good", article("Version 1 is out."))
        emu.user_says(ALICE, f"!monitor {bad} 0.3s")
        emu.user_says(BOB, f"!monitor {good} 0.3s")
        await until(lambda: sum("watching" in m.content for m in emu.messages()) == 2)
        await until(lambda: _failures_at_least(running, bad, 3), what="three failed checks")
        failing = [m for m in emu.messages() if "is failing" in m.content]
        assert len(failing) == 1 and f"<@{ALICE}>" in failing[0].content
        assert failing[0].allowed_mentions is not None
        assert [int(u) for u in failing[0].allowed_mentions.get("users", [])] == [ALICE]
        mon = await monitor_of(running, bad)
        assert mon.last_error and mon.next_check_at - (mon.last_checked_at or 0) > mon.interval_s  # backoff

        emu.user_says(ALICE, "!monitor list")
        listing = await emu.wait_for(lambda m: "last error" in m.content)
        assert mon.id in listing.content and "500" in listing.content and "in a row" in listing.content

        # Meanwhile the good monitor goes on: it sees its page change.
        await until(lambda: _checked(running, good), what="a baseline of the good page")
        pages.set("/good", article("Version 2 is out."))
        changed = await emu.wait_for(lambda m: any("changed" in (e.get("title") or "") for e in m.embeds))
        assert "Version 2" in changed.text() and "check job" in changed.text() and "≈ $" in changed.text()

        pages.set("/flaky", article("Up."))
        recovered = await emu.wait_for(lambda m: "works again after" in m.content, timeout=20)
        assert mon.id in recovered.content
        since = time.time()
        await until(lambda: _checked_since(running, bad, since), what="another good check")
        assert sum("works again after" in m.content for m in emu.messages()) == 1
        assert sum("is failing" in m.content for m in emu.messages()) == 1
        assert (await monitor_of(running, bad)).failures == 0
        emu.user_says(ALICE, "!monitor list")
        listing = await emu.wait_for(lambda m: "last check <t:" in m.content and "error" not in m.content)
        assert mon.id in listing.content and "last change" in listing.content
    finally:
        await running.stop()


async def _checked(running: Running, url: str) -> bool:
    return (await monitor_of(running, url)).fingerprint is not None


async def _checked_since(running: Running, url: str, since: float) -> bool:
    return ((await monitor_of(running, url)).last_checked_at or 0) > since


async def test_the_loop_survives_an_unexpected_error(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    running = await start(emu, monkeypatch, **FAST, SPOTRUN_MONITOR_BACKOFF_MAX_S="0.6")
    store = running.core.store
    try:
        # Injected faults: the store fails the loop's query twice, and one monitor's stored ignore
        # rules are corrupt (its checks fail alone).
        real = store.due_monitors
        faults = {"left": 2}

        async def flaky_due(now: float) -> list[Monitor]:
            if faults["left"]:
                faults["left"] -= 1
                raise RuntimeError("injected: the store hiccuped")
            return await real(now)

        monkeypatch.setattr(store, "due_monitors", flaky_due)
        broken = pages.set("/broken", article("Broken rules."))
        good = pages.set("/fine", article("Fine."))
        emu.user_says(ALICE, f"!monitor {broken} 0.3s")
        emu.user_says(ALICE, f"!monitor {good} 0.3s")
        await until(lambda: sum("watching" in m.content for m in emu.messages()) == 2)
        await store.update_monitor((await monitor_of(running, broken)).id, ignore_json="{not json")
        await until(lambda: _failing(running, broken), what="the corrupt monitor failing")
        first = (await monitor_of(running, good)).last_checked_at or 0
        await until(lambda: _checked_since(running, good, first), what="the good monitor checked again")
        assert faults["left"] == 0
        assert "ignore rules" in ((await monitor_of(running, broken)).last_error or "")
    finally:
        await running.stop()


# --------------------------------------------------------------------------------- restarts


async def test_a_restart_reports_no_false_change(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    url = pages.set("/same", article("Nothing happens here.", "Visited 10 times."))
    part = pages.set("/part", '<div class="price">$10</div>' + article("Other text."))
    running = await start(emu, monkeypatch, **FAST)
    try:
        emu.user_says(ALICE, f'!monitor {url} 0.5s ignore="/visited \\d+ times/"')
        emu.user_says(ALICE, f"!monitor {part} 0.5s selector=.price")
        await until(lambda: sum("watching" in m.content for m in emu.messages()) == 2)
        await until(lambda: _checked(running, url), what="a baseline")
        await until(lambda: _checked(running, part), what="a baseline")
        before = {m.id: m.fingerprint for m in await running.core.store.monitors()}
    finally:
        await running.stop()

    running = await start(emu, monkeypatch, **FAST)
    try:
        since = time.time()
        for u in (url, part):
            await until(lambda u=u: _checked_since(running, u, since + 1.0), what="checks after the restart")
        assert {m.id: m.fingerprint for m in await running.core.store.monitors()} == before
        assert not [m for m in emu.messages() if any("changed" in (e.get("title") or "") for e in m.embeds)]
    finally:
        await running.stop()


# ------------------------------------------------------------------------ selector, ignore, diff


async def test_selector_ignore_and_a_short_escaped_diff(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    running = await start(emu, monkeypatch, **FAST)

    def changes() -> list[Any]:
        return [m for m in emu.messages() if any("changed" in (e.get("title") or "") for e in m.embeds)]

    try:
        price = pages.set("/shop", '<div class="price">Price: $10</div>' + article("Visited 1 times."))
        news = pages.set("/news", article("Storm warning for the harbour.", "Updated at 10:01 by the desk."))
        emu.user_says(ALICE, f"!monitor {price} 0.3s selector=.price")
        emu.user_says(ALICE, f'!monitor {news} 0.3s ignore="/updated at [0-9:]+/" ignore="by the desk"')
        acks = await until(lambda: len(a := [m for m in emu.messages() if "watching" in m.content]) > 1 and a)
        by_url = {a.content.split("<", 1)[1].split(">", 1)[0]: a.content for a in acks}
        assert "(only `.price`) every 0.3s as" in by_url[price]
        assert "ignoring `/updated at [0-9:]+/`, `by the desk` every 0.3s" in by_url[news]
        await until(lambda: _checked(running, price), what="baselines")
        await until(lambda: _checked(running, news), what="baselines")

        # Outside the selector, and ignored text: no change is reported.
        pages.set("/shop", '<div class="price">Price: $10</div>' + article("Visited 999 times."))
        pages.set("/news", article("Storm warning for the harbour.", "Updated at 10:07 by the desk."))
        since = time.time()
        for u in (price, news):
            await until(lambda u=u: _checked_since(running, u, since + 0.5), what="checks of unchanged parts")
        assert changes() == []

        # The watched part changes: a notice with a short diff, the page's text escaped.
        pages.set("/shop", '<div class="price">Price: $12 ```@everyone [x](https://evil.example)</div>')
        notice = await emu.wait_for(lambda m: any("changed" in (e.get("title") or "") for e in m.embeds), 20)
        embed = notice.embeds[0]
        description = embed["description"]
        assert "```diff" in description
        assert "- Price: $10" in description and "+ Price: $12" in description
        body = description.split("```diff", 1)[1].rsplit("```", 1)[0]
        assert "```" not in body  # the page's fence cannot close the block
        summary = description.split("```diff", 1)[0]
        assert "Price: $12" in summary and "[x](" not in summary  # no disguised link outside the block
        assert notice.allowed_mentions is not None and notice.allowed_mentions.get("parse") == []

        pages.set("/news", article("Storm warning lifted.", "Updated at 11:30 by the desk."))
        news_notice = await emu.wait_for(
            lambda m: m.id != notice.id and any("changed" in (e.get("title") or "") for e in m.embeds)
        )
        text = news_notice.embeds[0]["description"]
        assert "+ Storm warning lifted." in text and "Updated at" not in text
        assert len(changes()) == 2
        emu.user_says(ALICE, "!monitor list")
        listing = await emu.wait_for(lambda m: "last change <t:" in m.content)
        assert "`.price`" in listing.content
    finally:
        await running.stop()


async def test_a_slow_change_notice_is_not_raced_by_the_next_check(
    emu: DiscordEmulator,  # noqa: F811
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pages: Pages,
) -> None:
    """The job is marked finished before its outcome is compared and posted: a check started in
    between would report the same change a second time."""
    running = await start(emu, monkeypatch, **FAST)
    try:
        url = pages.set("/slow", article("Version 1 of the timetable is out."))
        emu.user_says(ALICE, f"!monitor {url} 0.2s")
        await emu.wait_for(lambda m: "watching" in m.content)
        await until(lambda: _checked(running, url), what="a baseline")
        emu.rate_limit_next(f"/channels/{emu.channel_id}/messages", retry_after=1.5)  # a slow post
        pages.set("/slow", article("Version 2 of the timetable is out."))
        await emu.wait_for(lambda m: any("changed" in (e.get("title") or "") for e in m.embeds), 15)
        since = time.time()  # past the 429's 1.5 s: a racing check's notice would have landed by then
        await until(lambda: _checked_since(running, url, since + 2.5), what="more checks")
        notices = [m for m in emu.messages() if any("changed" in (e.get("title") or "") for e in m.embeds)]
        assert len(notices) == 1
    finally:
        await running.stop()
