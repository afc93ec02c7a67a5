"""The supervised monitor loop: due checks become ordinary jobs (budgeted, queued fairly)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.billing.cost import CostSettings
from bot.billing.ledger import Ledger
from bot.frontends.messages import budget_exhausted, budget_warning
from bot.jobs.engine import JobEngine, Submission
from bot.jobs.queue import UserLimitReached
from bot.jobs.store import JobStore, Monitor
from bot.monitors.change import IgnoreRules
from bot.monitors.outcome import FRONTEND, MonitorOutcomes
from bot.settings import BotSettings
from spotrun.logs import get_logger

log = get_logger("bot.monitors")

# How long a finished check's outcome may take to be handled (compare, post the notice) before the
# next check goes ahead anyway: an outcome whose post failed is retried only after a restart.
_OUTCOME_GRACE_S = 60.0


def check_submission(mon: Monitor) -> Submission:
    """A check is the scraper's `scrape`, or `extract` when the monitor watches a selector."""
    command, args = "scrape", {"url": mon.url, "render_js": False}
    if mon.selector:
        command, args = "extract", {"url": mon.url, "selector": mon.selector, "limit": 100}
    return Submission(
        command=command,
        args=args,
        user_id=mon.user_id,
        frontend=FRONTEND,
        guild_id=mon.guild_id,
        channel_id=mon.channel_id,
    )


class MonitorScheduler:
    def __init__(
        self,
        store: JobStore,
        engine: JobEngine,
        outcomes: MonitorOutcomes,
        settings: BotSettings,
        prices: CostSettings,
    ) -> None:
        self.store = store
        self.engine = engine
        self.outcomes = outcomes
        self.settings = settings
        self.prices = prices
        self._task: asyncio.Task[None] | None = None

    def start(self, ready: Callable[[], Awaitable[Any]]) -> None:
        self._task = asyncio.create_task(self._supervise(ready), name="monitors")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _supervise(self, ready: Callable[[], Awaitable[Any]]) -> None:
        await ready()
        while True:
            try:
                # Run once per deployment: the process holding the duty ticks; if it dies, its
                # hold lapses after three ticks and another process's next tick takes it.
                ttl_s = 3 * self.settings.monitor_tick_s + 5
                if await self.store.hold_duty("monitor-scheduler", ttl_s=ttl_s):
                    await self.tick(time.time())
            except Exception:
                # Whatever went wrong (the store, a bug), the schedule is in the store: log it and
                # try again next tick rather than let monitoring stop silently.
                log.exception("monitor tick failed; trying again next tick")
            await asyncio.sleep(self.settings.monitor_tick_s)

    async def tick(self, now: float) -> None:
        for mon in await self.store.due_monitors(now):
            try:
                await self.start_check(mon, now)
            except Exception:
                # One monitor's failure must never stop the others: it is recorded on that monitor
                # (with backoff, and its owner told) and the loop goes on.
                log.exception("monitor check could not start", monitor=mon.id)
                await self.outcomes.failed(mon, "the bot hit an internal error starting this check", now)

    async def start_check(self, listed: Monitor, now: float) -> None:
        mon = await self.store.get_monitor(listed.id)  # fresh: the last outcome may just have landed
        if mon is None:
            return  # removed meanwhile
        if mon.job_id is not None:
            job = await self.store.get(mon.job_id)
            # The job is marked finished before its outcome is handled (and the notice posted);
            # wait for that too, else this check's outcome would race the last one's.
            handling = (
                job is not None
                and job.posted_at is None
                and now - (job.finished_at or now) < _OUTCOME_GRACE_S
            )
            if job is not None and (not job.state.finished or handling):
                # The last check is still queued, running or being compared: never stack checks.
                await self.store.update_monitor(
                    mon.id, next_check_at=now + min(mon.interval_s, _OUTCOME_GRACE_S)
                )
                return
        try:
            IgnoreRules.from_json(mon.ignore_json)  # unreadable rules fail here, before any cost
        except ValueError as exc:
            await self.outcomes.failed(mon, f"its ignore rules are unreadable ({exc})", now)
            return
        if mon.guild_id is not None:
            ledger = Ledger(self.store, self.prices)
            admission = await ledger.admit(mon.guild_id, mon.user_id, self.settings.budget_warn_ratio, now)
            if admission.exhausted is not None:
                budget = admission.exhausted.budget
                text = budget_exhausted(budget.user_id is not None, budget.amount_usd, admission.resets_at)
                await self.outcomes.failed(mon, text, now)
                return
            if admission.warn is not None:
                status = admission.warn
                user_scoped = status.budget.user_id is not None
                text = budget_warning(user_scoped, status.ratio, status.budget.amount_usd)
                await self.outcomes.notices.budget_warning(mon, text)
        async with self.outcomes.submitting:
            try:
                job, _ = await self.engine.submit(check_submission(mon))
            except UserLimitReached:
                # The owner's job slots are full: the check waits its turn like their commands do.
                await self.store.update_monitor(mon.id, next_check_at=now + self.settings.monitor_tick_s)
                return
            await self.store.update_monitor(mon.id, job_id=job.id, next_check_at=now + mon.interval_s)
        log.info("monitor check submitted", monitor=mon.id, job_id=job.id, command=job.command)
