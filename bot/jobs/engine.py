"""The job engine: persist first, claim jobs from the store in fair order, run them, cancel on request.

Any process sharing the store runs any job: a job is claimed with a lease this process renews
while it runs; if the process dies, another one takes the job over once the lease lapses and runs
it again under the same id (the agent call's idempotency key)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from bot.jobs.database import DatabaseErrors
from bot.jobs.progress import StatusBoard
from bot.jobs.queue import FairQueue
from bot.jobs.runner import JobRunner
from bot.jobs.store import InvalidTransition, Job, JobState, JobStore
from bot.runtime import metrics
from spotrun.logs import get_logger
from spotrun.protocol import InputFile

log = get_logger("bot.engine")

# Queue positions are re-shown only for the front of the queue: Discord allows about 5 edits
# per 5 s per channel, so editing hundreds of status messages on every dispatch only builds a
# backlog of edits (and used to stall dispatch behind it).
POSITION_REFRESH_LIMIT = 20


@dataclass(frozen=True)
class LeaseTimes:
    """How long a claim lasts unrenewed (how soon a dead process's jobs move), how often this
    process renews (and sees cancels asked for elsewhere), and how often it looks for work other
    processes queued. Cancel latency across processes is at most `renew_s` plus the agent's
    reaction to a closed connection."""

    lease_s: float = 10.0
    renew_s: float = 1.0
    poll_s: float = 1.0
    # A finished job nobody posted (its holder died between the answer and the post) is posted
    # by any process after this long; the outbox claim keeps it to one.
    repost_after_s: float = 15.0
    # Inputs of finished jobs are dropped after posting; this catches those never posted.
    input_retention_s: float = 3600.0
    route_retention_s: float = 7 * 86400.0


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
    routing_usd: float | None = None  # an LLM router's cost for this request, billed with the job


class JobEngine:
    def __init__(
        self,
        store: JobStore,
        runner: JobRunner,
        queue: FairQueue,
        board: StatusBoard,
        times: LeaseTimes | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.queue = queue  # the limits; the order itself is rebuilt from the store
        self.board = board
        self.times = times or LeaseTimes()
        self._wake = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_by: dict[str, str] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._positions: dict[str, int] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._reposter: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._lost: set[str] = set()
        self.store_error: str | None = None  # the last store failure of a background loop (/readyz)
        self._refresher: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._admission = asyncio.Lock()
        self.draining = False
        self._started_at = time.time()

    @property
    def running_count(self) -> int:
        """Jobs running in this process right now (/status lists it per process)."""
        return len(self._tasks)

    # ----------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._started_at = time.time()
        if not self.store.shared:
            # SQLite is one process's store: a running job in it was left by a dead process.
            await self.store.expire_leases()
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="job-dispatcher")
        self._renewer = asyncio.create_task(self._renew_loop(), name="job-leases")
        self._reposter = asyncio.create_task(self._housekeeping(), name="job-reposter")
        self._wake.set()

    async def stop(self, budget_s: float) -> None:
        """Drain: stop claiming, let running jobs finish (and post) within `budget_s`, then
        interrupt the rest and hand them back to the queue: another process (or the next start)
        runs them again under the same id — the agent call is idempotent on it. Commands
        submitted meanwhile are stored queued and run by whichever process claims them."""
        self.draining = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=budget_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for background in (self._renewer, self._reposter, self._refresher):
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
        try:
            released = await self.store.release()
            await self.store.drop_duties()
            if released:
                log.info("running jobs handed back to the queue", jobs=released)
        except DatabaseErrors as exc:
            # Their leases lapse by themselves; another process takes them over then.
            log.warning("could not hand jobs back; their leases will lapse", error=str(exc))
        await self.board.close()

    async def _housekeeping(self) -> None:
        """Post what a dead process left unposted, and (one process at a time) drop old inputs."""
        # One process alone on its store (SQLite) posts what the last one left at once: nobody
        # else can be posting it. Shared, a finished job gets time for its holder to post it.
        alone_at_start = not self.store.shared
        while True:
            try:
                before = time.time() - (0 if alone_at_start else self.times.repost_after_s)
                alone_at_start = False
                for job in await self.store.unposted(finished_before=before):
                    if job.frontend in self.runner.frontends:
                        await self.runner.post_finished(job)
                if await self.store.hold_duty("retention", ttl_s=max(30.0, 3 * self.times.repost_after_s)):
                    await self.store.purge_inputs(time.time() - self.times.input_retention_s)
                    # Claims only matter while a shard is handed over (seconds): keep an hour.
                    await self.store.purge_events(time.time() - 3600)
                    # Routing records back buttons ("Not what I meant", the readings offered).
                    await self.store.purge_meta("route", time.time() - self.times.route_retention_s)
            except DatabaseErrors as exc:
                self._store_failed("housekeeping", exc)
            await asyncio.sleep(self.times.repost_after_s / 3)

    def _store_failed(self, what: str, exc: BaseException) -> None:
        self.store_error = f"{what}: {type(exc).__name__}: {exc}"
        log.warning("job store unreachable; retrying", loop=what, error=str(exc))

    async def _renew_loop(self) -> None:
        """Keep this process's leases; notice cancels asked for elsewhere and jobs taken away."""
        while True:
            await asyncio.sleep(self.times.renew_s)
            if not self._tasks:
                continue
            try:
                held = await self.store.renew(self.times.lease_s, list(self._tasks))
            except DatabaseErrors as exc:
                self._store_failed("leases", exc)
                continue
            self.store_error = None
            for job_id, task in list(self._tasks.items()):
                if (by := held.get(job_id)) is not None and job_id not in self._cancel_by:
                    self._cancel_by[job_id] = by
                    task.cancel()
            missing = [j for j in self._tasks if j not in held]  # finished (posting), or taken over
            with contextlib.suppress(*DatabaseErrors):
                for job_id in await self.store.taken_over(missing):
                    # Our lease lapsed (the database was unreachable for longer than the lease)
                    # and another process runs the job now: stop ours, record nothing.
                    log.warning("lease lost; the job runs elsewhere now", job_id=job_id)
                    if (task := self._tasks.get(job_id)) is not None:
                        self._lost.add(job_id)
                        task.cancel()

    # ----------------------------------------------------------------------- commands

    async def submit(self, sub: Submission) -> tuple[Job, int]:
        """Admit and persist the job in one store transaction, queue it, show its status.

        Raises UserLimitReached when the store refuses it, and the store's error when it cannot be
        reached: then nothing is stored or queued. Nothing after the commit raises a store error."""
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
                agent=self.runner.registry.for_command(sub.command).name,
                routing_usd=sub.routing_usd,
            )
        try:
            position = await self._position(job.id)
        except DatabaseErrors as exc:
            # The job is stored and will run: show it queued; the refresher corrects the number.
            self._store_failed("submit", exc)
            position = 1
        self._positions[job.id] = position
        self._done.setdefault(job.id, asyncio.Event())
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
        """Cancel a queued or running job, whichever process holds it; returns what happened."""
        job = await self.store.get(job_id)
        if job is None:
            return f"there is no job `{job_id}`"
        if job.state.finished:
            return f"job `{job_id}` already {job.state.value}"
        if job.state is JobState.QUEUED:
            try:
                job = await self.store.transition(
                    job_id, JobState.CANCELLED, error_message=f"cancelled by {by}"
                )
            except InvalidTransition:
                job = await self.store.get(job_id) or job  # claimed meanwhile: cancel it running
            else:
                metrics.JOBS.labels(job.command, JobState.CANCELLED.value).inc()
                await self.board.show(job, f"🛑 cancelled by {by}", active=False, final=True)
                self._positions.pop(job_id, None)
                self._finished(job_id)
                self._wake.set()
                return f"cancelled job `{job_id}` (it was queued)"
        if job.state.finished:
            return f"job `{job_id}` already {job.state.value}"
        task = self._tasks.get(job_id)
        if task is not None:
            self._cancel_by[job_id] = by
            task.cancel()
            await asyncio.wait([task], timeout=10)
            return f"cancelled job `{job_id}` (it was running)"
        # Running in another process: it sees the request on its next lease renewal.
        await self.store.request_cancel(job_id, by)
        deadline = time.monotonic() + 3 * self.times.renew_s + 2
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            current = await self.store.get(job_id)
            if current is None or current.state.finished:
                return f"cancelled job `{job_id}` (it was running)"
        return f"cancel of job `{job_id}` requested; it stops within seconds"

    async def wait(self, job_id: str) -> Job:
        """Wait until a job is finished (the console frontend waits for its jobs at EOF)."""
        while True:
            job = await self.store.get(job_id)
            assert job is not None, job_id
            if job.state.finished:
                return job
            done = self._done.setdefault(job_id, asyncio.Event())
            # Another process may finish it: look again now and then.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.times.poll_s):
                    await done.wait()

    # ------------------------------------------------------------------------ internals

    async def _queue(self) -> FairQueue:
        q = self.queue
        return await self.store.queue_order(
            frontends=list(self.runner.frontends),
            agent_of=self._agent_of,
            agent_limits=q.agent_limits,
            max_running_per_user=q.max_running,
        )

    def _agent_of(self, command: str) -> str:
        return self.runner.registry.for_command(command).name

    async def _position(self, job_id: str) -> int:
        return (await self._queue()).position(job_id) or 1

    async def _dispatch_loop(self) -> None:
        """Claim what this process may run; look again when woken or every `poll_s` (other
        processes queue and finish jobs too)."""
        while True:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that arrives
            # in the tick its inner wait ends (a job finishing as the bot stops), and the
            # dispatcher then outlived stop() forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.times.poll_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while not self.draining and (job := await self._claim()) is not None:
                    self._positions.pop(job.id, None)
                    self._tasks[job.id] = asyncio.create_task(self._run(job), name=f"job-{job.id}")
                    log.info("job claimed", job_id=job.id, command=job.command, attempt=job.attempt)
                    if job.attempt > 1 or job.created_at < self._started_at:
                        log.info("job resumed", job_id=job.id, command=job.command, attempt=job.attempt)
                if self._positions:
                    self._schedule_refresh()
            except DatabaseErrors as exc:
                self._store_failed("dispatch", exc)
                await asyncio.sleep(self.times.poll_s)

    async def _claim(self) -> Job | None:
        q = self.queue
        job = await self.store.claim(
            lease_s=self.times.lease_s,
            frontends=list(self.runner.frontends),
            agent_of=self._agent_of,
            agent_limits=q.agent_limits,
            max_running_per_user=q.max_running,
        )
        self.store_error = None
        return job

    def _schedule_refresh(self) -> None:
        """Refresh queue positions in the background: dispatch never waits on Discord edits."""
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh_positions(), name="queue-positions")
        else:
            self._refresh_again = True  # coalesce: one more pass after the running one

    async def _refresh_positions(self) -> None:
        """Re-show the positions of the queued jobs this process announced (front of the queue)."""
        while True:
            self._refresh_again = False
            try:
                queue = await self._queue()
            except DatabaseErrors as exc:
                self._store_failed("positions", exc)
                return
            metrics.QUEUE_DEPTH.set(queue.depth)
            queued = {t.job_id for t in queue.order()}
            for gone in [j for j in self._positions if j not in queued]:
                self._positions.pop(gone, None)
            for ticket in itertools.islice(queue.order(), POSITION_REFRESH_LIMIT):
                if ticket.job_id not in self._positions:
                    continue  # announced by another process: it shows the position
                position = queue.position(ticket.job_id)
                if position is not None and position != self._positions.get(ticket.job_id):
                    try:
                        job = await self.store.get(ticket.job_id)
                    except DatabaseErrors as exc:
                        # The store went away mid-pass: the next pass shows it (a task nobody
                        # awaits must not end in "Task exception was never retrieved").
                        self._store_failed("positions", exc)
                        return
                    self._positions[ticket.job_id] = position
                    if job is not None and job.state is JobState.QUEUED:
                        await self.board.show(job, _queued_text(job, position), active=True)
            if not self._refresh_again:
                return

    async def _run(self, job: Job) -> None:
        try:
            await self.runner.run(job)
        except asyncio.CancelledError:
            by = self._cancel_by.pop(job.id, None)
            lost = job.id in self._lost
            self._lost.discard(job.id)
            if by is None or lost:
                if lost:
                    return
                raise  # shutdown: stop() hands the job back to the queue
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            await self.runner.cancelled(job.id, by)
        except InvalidTransition:
            # The lease lapsed while the agent answered and another process holds the job now.
            log.warning("job finished elsewhere; this result is dropped", job_id=job.id)
        except Exception:
            # The runner handles every agent error; anything else is a bug, but one job's bug
            # must not stop the engine. Record it so the user hears about it.
            log.exception("job crashed", job_id=job.id)
            try:
                await self._crashed(job.id)
            except DatabaseErrors as exc:
                # The store is gone too: the lease lapses (nobody renews it) and a process takes
                # the job over when the store is back; a finished job is posted by housekeeping.
                self._store_failed("job", exc)
        finally:
            self._tasks.pop(job.id, None)
            self._finished(job.id)
            self._wake.set()

    async def _crashed(self, job_id: str) -> None:
        job = await self.store.get(job_id)
        if job is None or job.state.finished:
            return
        text = "the bot hit an internal error running this job; an admin can find it in the logs"
        job = await self.store.transition(job_id, JobState.FAILED, error_code="internal", error_message=text)
        await self.runner.deliver(job, self.runner.show_error(job, text))

    def _finished(self, job_id: str) -> None:
        # Events stay set (not popped) so a late wait() returns at once instead of hanging.
        self._done.setdefault(job_id, asyncio.Event()).set()


def _queued_text(job: Job, position: int) -> str:
    return f"⏳ `{job.command}` queued — position {position} · job `{job.id}`"
