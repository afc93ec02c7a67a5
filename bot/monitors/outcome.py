"""The frontend of monitor-check jobs: a finished check is compared with the last, not posted."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.frontends.render import Message
from bot.jobs.store import Job, JobStore, Monitor
from bot.monitors.change import IgnoreRules, IgnoreTimeout, fingerprint
from bot.monitors.notices import Notices
from bot.settings import BotSettings
from spotrun.logs import get_logger
from spotrun.protocol import AgentResult

log = get_logger("bot.monitors")

FRONTEND = "monitor"


class NothingMatched(Exception):
    """The monitor's CSS selector matched nothing on the page."""


def backoff_s(interval_s: float, failures: int, max_s: float) -> float:
    """Wait before the next check of a monitor that failed `failures` times in a row."""
    return float(min(interval_s * 2 ** min(failures, 20), max(interval_s, max_s)))


def watched_text(result: AgentResult, selector: str | None) -> str:
    """The part of the page a monitor compares: the main text, or what its selector matched."""
    if selector is None:
        return result.text
    data: dict[str, Any] = result.data
    if not data.get("matches"):
        raise NothingMatched(f"nothing on the page matches `{selector}` any more")
    return "\n".join(str(v) for v in data.get("values") or [])


class MonitorOutcomes:
    """Registered as the `monitor` frontend: the job pipeline runs, bills and records checks like
    any job, and hands each finished one here instead of posting it."""

    name = FRONTEND

    def __init__(self, store: JobStore, notices: Notices, settings: BotSettings) -> None:
        self.store = store
        self.notices = notices
        self.settings = settings
        # Held by the scheduler from submitting a check until its job id is on the monitor, so an
        # outcome never looks its monitor up before the id is recorded.
        self.submitting = asyncio.Lock()

    async def _monitor_of(self, job: Job) -> Monitor | None:
        async with self.submitting:
            pass
        return await self.store.monitor_for_job(job.id)

    async def show_status(self, job: Job, text: str, *, active: bool) -> str | None:
        return None  # checks have no status message: `jobs`, /status and /cost show them

    async def show_result(self, job: Job, status: str, messages: list[Message]) -> str | None:
        return await self.post_result(job, messages)  # a check has no status message to become it

    async def post_result(self, job: Job, messages: list[Message]) -> str | None:
        mon = await self._monitor_of(job)
        result = job.result
        if mon is None or result is None:
            return None  # an older check replayed after a restart: its monitor moved on
        now = time.time()
        try:
            compared = IgnoreRules.from_json(mon.ignore_json).apply(
                watched_text(result, mon.selector), self.settings.monitor_ignore_timeout_s
            )
        except (NothingMatched, IgnoreTimeout) as exc:
            await self.failed(mon, str(exc), now, job_id=job.id)
            return None
        except ValueError as exc:  # corrupt ignore rules in the store: this monitor alone fails
            await self.failed(mon, f"its ignore rules are unreadable ({exc})", now, job_id=job.id)
            return None
        title = None if mon.selector else (result.data.get("title") or result.title)
        new_print = fingerprint(compared)
        changed = mon.fingerprint is not None and new_print != mon.fingerprint
        message_id = None
        if changed:
            # Post before recording: if the post fails the old fingerprint stays and the next
            # check reports the change again (DeliveryError leaves this job unposted).
            message_id = await self.notices.changed(mon, job, title, mon.text or "", compared)
        recorded = await self.store.finish_monitor_check(
            mon.id,
            job.id,
            fingerprint=new_print,
            title=title,
            text=compared,
            last_checked_at=now,
            last_change_at=now if changed else mon.last_change_at,
            failures=0,
            last_error=None,
            failing_since=None,
        )
        if recorded and mon.failures:
            await self.notices.recovered(mon)
        return message_id

    async def show_error(self, job: Job, text: str) -> str | None:
        mon = await self._monitor_of(job)
        if mon is not None:
            await self.failed(mon, text, time.time(), job_id=job.id)
        return None

    async def failed(self, mon: Monitor, error: str, now: float, *, job_id: str | None = None) -> None:
        """Record a failed (or refused) check with backoff; tell the owner when a run of failures starts."""
        failures = mon.failures + 1
        delay = backoff_s(mon.interval_s, failures, self.settings.monitor_backoff_max_s)
        fields: dict[str, Any] = {
            "failures": failures,
            "last_error": error,
            "last_checked_at": now,
            "next_check_at": now + delay,
            "failing_since": mon.failing_since or now,
        }
        if job_id is None:
            await self.store.update_monitor(mon.id, **fields)
        elif not await self.store.finish_monitor_check(mon.id, job_id, **fields):
            return
        log.info("monitor check failed", monitor=mon.id, failures=failures, error=error, retry_in_s=delay)
        if mon.failures == 0:
            await self.notices.failing(mon, error, delay)
