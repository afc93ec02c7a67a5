"""Runs one job: running -> agent call (job id = idempotency key) -> store -> render -> post."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Coroutine

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from agent_client import AgentClient, AgentError, AgentRegistry
from bot.billing.cost import CostSettings, receipt
from bot.billing.ledger import record_cost
from bot.frontends.base import DeliveryError, Frontend
from bot.frontends.messages import agent_words, describe_agent_error
from bot.frontends.render import render_result
from bot.jobs.database import DatabaseErrors
from bot.jobs.progress import StatusBoard
from bot.jobs.store import InvalidTransition, Job, JobState, JobStore
from bot.runtime import metrics
from bot.settings import BotSettings
from spotrun.logs import get_logger
from spotrun.protocol import AgentRequest, CallerContext
from spotrun.trace import TraceContext

log = get_logger("bot.runner")

# Cloud Run scales an idle service to zero after roughly this long: the next call is a cold start.
_COLD_AFTER_S = 15 * 60

# How long a claim on posting a result holds: longer than any post takes (retries included), so
# a live poster is never doubled; if the poster dies, another process posts after this (the
# job-derived nonce makes Discord return the first message if that one did land).
_POST_HOLD_S = 60.0

# A finished job's last writes wait out a database restart instead of losing the answer: retried
# on connection errors for up to a minute (the lease may lapse meanwhile; then another process
# runs the job again under the same idempotency key and this process's write is refused).
_STORE_RETRY = {
    "retry": retry_if_exception_type(DatabaseErrors),
    "wait": wait_exponential(multiplier=0.2, max=3),
    "stop": stop_after_delay(60),
    "reraise": True,
}


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        client: AgentClient,
        registry: AgentRegistry,
        board: StatusBoard,
        frontends: dict[str, Frontend],
        settings: BotSettings,
        prices: CostSettings,
    ) -> None:
        self.store = store
        self.client = client
        self.registry = registry
        self.board = board
        self.frontends = frontends
        self.settings = settings
        self.prices = prices
        self._last_answer: dict[str, float] = {}

    async def run(self, claimed: Job) -> Job:
        """Run a job this process claimed (it is `running` with our lease)."""
        job = await self.store.get(claimed.id, with_files=True)
        assert job is not None, claimed.id
        files = job.files
        metrics.JOBS.labels(job.command, JobState.RUNNING.value).inc()
        agent = self.registry.for_command(job.command)
        started = time.monotonic()
        ticker = asyncio.create_task(self._tick(job, agent.name, started))
        request = AgentRequest(
            job_id=job.id,
            command=job.command,
            args=job.args,
            files=files,
            context=CallerContext(user_id=job.user_id, guild_id=job.guild_id, channel_id=job.channel_id),
        )
        trace = TraceContext.new()
        error: AgentError | None = None
        try:
            result = await self.client.call(
                request, deadline_s=self.settings.job_deadline_s or agent.timeout_s, trace=trace
            )
        except AgentError as exc:
            error = exc
        finally:
            # Stop the progress lines before the final one, so none can land after it.
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        if error is not None:
            return await self._failed(job, agent.name, error, started, trace)
        self._last_answer[agent.name] = time.monotonic()
        bill = receipt(result.usage, agent, self.prices).plus_provider(job.routing_usd)
        job = await self._settle(
            job.id,
            JobState.SUCCEEDED,
            result_json=result.model_dump_json(),
            vcpu_s=bill.vcpu_s,
            gib_s=bill.gib_s,
            requests=bill.requests,
            provider_usd=bill.provider_usd,
            total_usd=bill.total_usd,
        )
        took = time.monotonic() - started
        await self._finish(job, started)
        messages = render_result(
            result, footer=bill.footer(), upload_limit=self.settings.upload_limit_bytes, job_id=job.id
        )
        # The status message becomes the result (one edit, the final line on top): a command costs
        # Discord two requests in the common case, and the user never sees a stale "running".
        frontend = self.frontends[job.frontend]
        line = f"✅ done in {took:.1f} s"
        finishing = self.board.finish_with(job, lambda j: frontend.show_result(j, line, messages))
        await self.deliver(job, finishing)
        return job

    async def _failed(
        self, job: Job, agent: str, exc: AgentError, started: float, trace: TraceContext
    ) -> Job:
        self._last_answer[agent] = time.monotonic()
        text = describe_agent_error(exc)
        log.info("job failed", job_id=job.id, error=str(exc), trace_id=trace.trace_id)
        job = await self._settle(
            job.id,
            JobState.FAILED,
            error_code=str(exc.code or type(exc).__name__),
            error_message=text,
        )
        await self._finish(job, started)
        await self.deliver(job, self.show_error(job, text))
        return job

    def show_error(self, job: Job, text: str) -> Awaitable[str | None]:
        """The job's status message becomes its error, after any status write in flight: one
        message, the reason said once."""
        frontend = self.frontends[job.frontend]
        return self.board.finish_with(job, lambda j: frontend.show_error(j, text))

    async def post_finished(self, job: Job) -> None:
        """Post a finished job's stored result (or error) that was never recorded as posted: a
        previous process stopped between the agent's answer and the record of the post."""
        if job.state is JobState.SUCCEEDED and (result := job.result) is not None:
            bill = receipt(result.usage, self.registry.for_command(job.command), self.prices)
            messages = render_result(
                result, footer=bill.footer(), upload_limit=self.settings.upload_limit_bytes, job_id=job.id
            )
            frontend = self.frontends[job.frontend]
            await self.deliver(
                job, self.board.finish_with(job, lambda j: frontend.show_result(j, "✅ done", messages))
            )
        elif job.state is JobState.FAILED:
            await self.deliver(job, self.show_error(job, job.error_message or "the job failed"))
        log.info("unposted result posted after restart", job_id=job.id, state=job.state.value)

    async def cancelled(self, job_id: str, by: str) -> None:
        """The engine cancelled the running task on a user's request: record and show it."""
        job = await self._settle(job_id, JobState.CANCELLED, error_message=f"cancelled by {by}")
        metrics.JOBS.labels(job.command, JobState.CANCELLED.value).inc()
        await self.board.show(job, f"🛑 cancelled by {by}", active=False, final=True)

    async def _finish(self, job: Job, started: float) -> None:
        metrics.JOBS.labels(job.command, job.state.value).inc()
        metrics.JOB_SECONDS.labels(job.command).observe(time.time() - job.created_at)
        await record_cost(self.store, job, self.registry.for_command(job.command), self.prices)

    async def deliver(self, job: Job, posting: Awaitable[str | None]) -> None:
        """Post under the outbox claim: one process posts a job's result, whichever finished it."""
        async for attempt in AsyncRetrying(**_STORE_RETRY):
            with attempt:
                mine = await self.store.claim_post(job.id, hold_s=_POST_HOLD_S)
        if not mine:
            if isinstance(posting, Coroutine):
                posting.close()  # never started: another process is posting (or posted) it
            log.info("result posted by another process", job_id=job.id)
            return
        try:
            message_id = await posting
        except DeliveryError as exc:
            # posted_at stays NULL and the claim is let go: housekeeping posts it again later.
            log.warning("result delivery failed", job_id=job.id, error=str(exc))
            with contextlib.suppress(*DatabaseErrors):  # else the claim lapses by itself
                await self.store.release_post(job.id)
            return
        async for attempt in AsyncRetrying(**_STORE_RETRY):
            with attempt:
                await self.store.posted(job.id, message_id)  # idempotent: only while unposted

    async def _settle(self, job_id: str, state: JobState, **fields: object) -> Job:
        """Record a job's end while this process still holds it, through a database restart."""
        async for attempt in AsyncRetrying(**_STORE_RETRY):
            with attempt:
                try:
                    return await self.store.transition(job_id, state, owner=self.store.owner, **fields)
                except InvalidTransition:
                    # A retry after a commit whose answer was lost: the first attempt did it.
                    job = await self.store.get(job_id)
                    if attempt.retry_state.attempt_number > 1 and job is not None and job.state is state:
                        return job
                    raise
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _tick(self, job: Job, agent: str, started: float) -> None:
        """Progress lines while the agent works; a long first wait on an idle agent is a cold start."""
        interval = self.settings.status_edit_interval_s
        idle = time.monotonic() - self._last_answer.get(agent, float("-inf")) > _COLD_AFTER_S
        words = agent_words(agent)
        waking_after = self.settings.waking_after_s

        def line() -> str:
            # Rendered when the board writes it (edits are throttled), so the seconds are true then.
            elapsed = time.monotonic() - started
            if idle and elapsed >= waking_after:
                return f"😴 waking the {words} agent… {elapsed:.0f} s (it was idle: cold start)"
            return f"⚙️ running on the {words} agent… {elapsed:.0f} s"

        while True:
            await self.board.show(job, line, active=True)
            await asyncio.sleep(interval)
