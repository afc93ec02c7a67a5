"""The job engine: persist first, then queue fairly, dispatch to the runner, cancel on request."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from bot import metrics
from bot.jobs.progress import StatusBoard
from bot.jobs.queue import FairQueue, Ticket
from bot.jobs.runner import FAILED_LINE, JobRunner
from bot.jobs.store import Job, JobState, JobStore
from spotrun.logs import get_logger
from spotrun.protocol import InputFile

log = get_logger("bot.engine")

# Queue positions are re-shown only for the front of the queue: Discord allows about 5 edits
# per 5 s per channel, so editing hundreds of status messages on every dispatch only builds a
# backlog of edits (and used to stall dispatch behind it).
POSITION_REFRESH_LIMIT = 20


@dataclass
class Submission:
    """Everything a frontend knows about a command when it hands it over."""

    command: str
    args: dict[str, Any]
    user_id: str
    frontend: str
    files: list[InputFile] = field(default_factory=list)
    guild_id: str | None = None
    channel_id: str | None = None
    origin_message_id: str | None = None
    interaction_id: str | None = None
    interaction_token: str | None = None
    token_expires_at: float | None = None


class JobEngine:
    def __init__(self, store: JobStore, runner: JobRunner, queue: FairQueue, board: StatusBoard) -> None:
        self.store = store
        self.runner = runner
        self.queue = queue
        self.board = board
        self._wake = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_by: dict[str, str] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._positions: dict[str, int] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._reposter: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._admission = asyncio.Lock()
        self.draining = False

    # ----------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        await self._readmit()
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="job-dispatcher")
        self._reposter = asyncio.create_task(self._post_unposted(), name="job-reposter")

    async def stop(self, budget_s: float) -> None:
        """Drain: stop dispatching, let running jobs finish (and post) within `budget_s`, then
        interrupt the rest. Those stay `running` in the store (not cancelled): the agent call is
        idempotent on the job id, so the next start re-runs them. Commands submitted meanwhile are
        stored queued and run by the next process."""
        self.draining = True
        for background in (self._dispatcher, self._reposter, self._refresher):
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=budget_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.board.close()

    async def _readmit(self) -> None:
        """Jobs a previous process left queued or running go back into the queue, in order."""
        for job in await self.store.jobs_in(JobState.RUNNING, JobState.QUEUED):
            if job.frontend not in self.runner.frontends:
                continue  # e.g. a console job in a store the Discord bot now uses: not ours to run
            if job.state is JobState.RUNNING:
                job = await self.store.transition(job.id, JobState.QUEUED)
            self._admit(job)  # admitted once already: the limits do not apply again
            log.info("job resumed", job_id=job.id, command=job.command, attempt=job.attempt)
        self._wake.set()

    async def _post_unposted(self) -> None:
        """Finished jobs whose result a previous process never recorded as posted: post them now
        (the nonce makes Discord return the earlier message if that process did post)."""
        for job in await self.store.unposted():
            if job.frontend in self.runner.frontends:
                await self.runner.post_finished(job)

    # ----------------------------------------------------------------------- commands

    async def submit(self, sub: Submission) -> tuple[Job, int]:
        """Admit and persist the job in one store transaction, queue it, show its status.

        Raises UserLimitReached when the store refuses it: then nothing is stored or queued."""
        # Admission order is queue order: a burst gets the positions the store's order implies.
        async with self._admission:
            job = await self.store.create_job(
                command=sub.command,
                args=sub.args,
                user_id=sub.user_id,
                guild_id=sub.guild_id,
                channel_id=sub.channel_id,
                files=sub.files,
                frontend=sub.frontend,
                origin_message_id=sub.origin_message_id,
                interaction_id=sub.interaction_id,
                interaction_token=sub.interaction_token,
                token_expires_at=sub.token_expires_at,
                limits=self.queue.limits,
            )
            position = self._admit(job)
        metrics.JOBS.labels(job.command, JobState.QUEUED.value).inc()
        log.info("job submitted", job_id=job.id, command=job.command, user_id=job.user_id, position=position)
        if self.draining:
            text = (
                f"⏳ `{job.command}` accepted — the bot is restarting; it will run shortly after "
                f"· job `{job.id}`"
            )
            await self.board.show(job, text, active=True)
        else:
            await self.board.show(job, _queued_text(job, position), active=True)
        self._wake.set()
        return job, position

    async def cancel(self, job_id: str, by: str) -> str:
        """Cancel a queued or running job; returns what happened, in words for the user."""
        job = await self.store.get(job_id)
        if job is None:
            return f"there is no job `{job_id}`"
        if job.state.finished:
            return f"job `{job_id}` already {job.state.value}"
        if self.queue.remove(job_id):
            metrics.QUEUE_DEPTH.set(self.queue.depth)
            job = await self.store.transition(job_id, JobState.CANCELLED, error_message=f"cancelled by {by}")
            metrics.JOBS.labels(job.command, JobState.CANCELLED.value).inc()
            await self.board.show(job, f"🛑 cancelled by {by}", active=False, final=True)
            self._finished(job_id)
            self._wake.set()
            return f"cancelled job `{job_id}` (it was queued)"
        task = self._tasks.get(job_id)
        if task is None:
            return f"job `{job_id}` is {job.state.value} but not in this process; try again in a moment"
        self._cancel_by[job_id] = by
        task.cancel()
        await asyncio.wait([task], timeout=10)
        return f"cancelled job `{job_id}` (it was running)"

    async def wait(self, job_id: str) -> Job:
        """Wait until a job is finished (the console frontend waits for its jobs at EOF)."""
        job = await self.store.get(job_id)
        if job is not None and not job.state.finished:
            await self._done.setdefault(job_id, asyncio.Event()).wait()
            job = await self.store.get(job_id)
        assert job is not None, job_id
        return job

    # ------------------------------------------------------------------------ internals

    def _admit(self, job: Job) -> int:
        ticket = Ticket(job.id, job.user_id, self.runner.registry.for_command(job.command).name)
        position = self.queue.admit(ticket)
        self._positions[job.id] = position
        self._done.setdefault(job.id, asyncio.Event())
        metrics.QUEUE_DEPTH.set(self.queue.depth)
        return position

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while (ticket := self.queue.next_ready()) is not None:
                self._positions.pop(ticket.job_id, None)
                self._tasks[ticket.job_id] = asyncio.create_task(
                    self._run(ticket), name=f"job-{ticket.job_id}"
                )
            metrics.QUEUE_DEPTH.set(self.queue.depth)
            self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        """Refresh queue positions in the background: dispatch never waits on Discord edits."""
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh_positions(), name="queue-positions")
        else:
            self._refresh_again = True  # coalesce: one more pass after the running one

    async def _refresh_positions(self) -> None:
        while True:
            self._refresh_again = False
            for ticket in itertools.islice(self.queue.order(), POSITION_REFRESH_LIMIT):
                position = self.queue.position(ticket.job_id)
                if position is not None and position != self._positions.get(ticket.job_id):
                    self._positions[ticket.job_id] = position
                    job = await self.store.get(ticket.job_id)
                    if job is not None and job.state is JobState.QUEUED:
                        await self.board.show(job, _queued_text(job, position), active=True)
            if not self._refresh_again:
                return

    async def _run(self, ticket: Ticket) -> None:
        try:
            await self.runner.run(ticket.job_id)
        except asyncio.CancelledError:
            by = self._cancel_by.pop(ticket.job_id, None)
            if by is None:
                raise  # shutdown: the job stays running in the store and is re-run on start
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await self.runner.cancelled(ticket.job_id, by)
        except Exception:
            # The runner handles every agent error; anything else is a bug, but one job's bug
            # must not stop the engine. Record it so the user hears about it.
            log.exception("job crashed", job_id=ticket.job_id)
            await self._crashed(ticket.job_id)
        finally:
            self.queue.done(ticket.job_id)
            self._tasks.pop(ticket.job_id, None)
            self._finished(ticket.job_id)
            self._wake.set()

    async def _crashed(self, job_id: str) -> None:
        job = await self.store.get(job_id)
        if job is None or job.state.finished:
            return
        text = "the bot hit an internal error running this job; an admin can find it in the logs"
        job = await self.store.transition(job_id, JobState.FAILED, error_code="internal", error_message=text)
        await self.board.show(job, FAILED_LINE, active=False, final=True)
        await self.runner.deliver(job, self.runner.frontends[job.frontend].post_error(job, text))

    def _finished(self, job_id: str) -> None:
        # Events stay set (not popped) so a late wait() returns at once instead of hanging.
        self._done.setdefault(job_id, asyncio.Event()).set()


def _queued_text(job: Job, position: int) -> str:
    return f"⏳ `{job.command}` queued — position {position} · job `{job.id}`"
