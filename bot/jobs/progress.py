"""The status board: one status message per job, edited at a bounded rate, latest text wins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.frontends.base import DeliveryError, Frontend
from bot.jobs.database import DatabaseErrors
from bot.jobs.store import Job, JobStore
from spotrun.logs import get_logger

log = get_logger("bot.progress")

# A progress line may be a function: it is rendered when it is written, not when it was queued,
# so a throttled "running… N s" still tells the true N.
Text = str | Callable[[], str]


class StatusBoard:
    def __init__(self, store: JobStore, frontends: dict[str, Frontend], interval_s: float) -> None:
        self._store = store
        self._frontends = frontends
        self._interval = interval_s
        self._last: dict[str, float] = {}
        self._message_ids: dict[str, str] = {}
        self._pending: dict[str, tuple[Job, Text, bool]] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._final: set[str] = set()  # jobs whose final line is shown: later progress is stale

    async def show(self, job: Job, text: Text, *, active: bool = True, final: bool = False) -> None:
        """Show `text` now if the interval allows, else later (the latest pending text wins).

        A `final` text is written at once — after any write in flight, never later than the
        result it announces — and nothing is written after it."""
        if job.id in self._final:
            return
        if final:
            self._final.add(job.id)
            self._pending.pop(job.id, None)  # a sleeping timer then finds nothing to write
            await self._write(job, text, active, final=True)
            self.forget(job.id)
            return
        wait = self._interval - (time.monotonic() - self._last.get(job.id, float("-inf")))
        if wait <= 0 and job.id not in self._timers:
            await self._write(job, text, active)
            return
        self._pending[job.id] = (job, text, active)
        if job.id not in self._timers:
            self._timers[job.id] = asyncio.create_task(self._later(job.id, max(wait, 0.0)))

    async def _later(self, job_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self._timers.pop(job_id, None)
        pending = self._pending.pop(job_id, None)
        if pending is None:
            return
        # Another process may have finished the job (and made its status the result) meanwhile:
        # a progress line queued before that must not land on it.
        try:
            current = await self._store.get(job_id)
        except DatabaseErrors:
            current = None  # unknown: write it, as before the check
        if current is not None and current.state.finished:
            return
        await self._write(*pending)

    async def _write(self, job: Job, text: Text, active: bool, *, final: bool = False) -> None:
        # One writer per job: the first write creates the message the later ones edit.
        async with self._locks.setdefault(job.id, asyncio.Lock()):
            if not final and job.id in self._final:
                return  # the final line came while this one waited its turn
            self._last[job.id] = time.monotonic()
            known = self._message_ids.get(job.id) or job.status_message_id
            job.status_message_id = known
            line = text() if callable(text) else text
            try:
                message_id = await self._frontends[job.frontend].show_status(job, line, active=active)
            except DeliveryError as exc:
                log.warning("status update failed", job_id=job.id, error=str(exc))
                return
            if message_id and message_id != known:
                self._message_ids[job.id] = message_id
                job.status_message_id = message_id
                try:
                    await self._store.update(job.id, status_message_id=message_id)
                except DatabaseErrors as exc:
                    # This process still knows the id; a later process (after a restart) posts
                    # the result as its own message instead of editing this one.
                    log.warning("status message id not recorded", job_id=job.id, error=str(exc))

    async def finish_with(self, job: Job, write: Callable[[Job], Awaitable[str | None]]) -> str | None:
        """The job's last status write is `write(job)` — the result replacing the status message:
        after any write in flight, and nothing after it. DeliveryError propagates to the caller."""
        self._final.add(job.id)
        self._pending.pop(job.id, None)
        try:
            async with self._locks.setdefault(job.id, asyncio.Lock()):
                job.status_message_id = self._message_ids.get(job.id) or job.status_message_id
                return await write(job)
        except DeliveryError:
            # Nothing final was shown: the later re-post must still write the final line.
            self._final.discard(job.id)
            raise
        finally:
            self.forget(job.id)

    def forget(self, job_id: str) -> None:
        for table in (self._last, self._message_ids, self._pending, self._locks):
            table.pop(job_id, None)
        timer = self._timers.pop(job_id, None)
        if timer is not None:
            timer.cancel()

    async def close(self) -> None:
        timers = list(self._timers.values())
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
