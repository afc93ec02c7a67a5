"""AgentClient: calls agents over HTTP with auth, retries, a breaker and per-agent limits.

A call passes through small layers, one concern each:
    call()        deadline for the whole job, concurrency limit, metrics
    _retrying()   tenacity: which failures to retry, backoff with jitter, Retry-After
    _attempt()    breaker check, auth header, upload form, one HTTP request, status -> result or error
    _verdict()    an agent's ErrorBody -> retry or not, breaker count or not (the agent decides)
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import aiohttp
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from agent_client import _metrics
from agent_client._auth import NoAuth, TokenSource
from agent_client._breaker import BreakerState, CircuitBreaker
from agent_client._exceptions import (
    AgentBusy,
    AgentError,
    AgentRejected,
    AgentTimeout,
    AgentUnavailable,
    AuthError,
    CircuitOpen,
    ProtocolViolation,
)
from agent_client._multipart import encode_multipart
from agent_client._registry import AgentConfig, AgentRegistry
from agent_client._stats import AgentStats, RollingStats
from spotrun.protocol import (
    AGENT_BUILD_HEADER,
    IDEMPOTENCY_HEADER,
    UPLOAD_JSON,
    UPLOAD_MULTIPART,
    AgentManifest,
    AgentRequest,
    AgentResult,
    ErrorBody,
    ErrorInfo,
    HealthReport,
)
from spotrun.trace import TraceContext


def counts_against_breaker(status: int, info: ErrorInfo) -> bool:
    """Is this ErrorBody evidence that the agent itself is unhealthy?

    Only a 5xx the agent attributes to itself. Not 501: "not implemented" (a provider or engine this
    deployment lacks) is a stable property of the deployment, not ill health.
    """
    return status >= 500 and status != 501 and info.source == "agent"


class _Retryable(Exception):
    """An attempt failed in a way that is safe to retry (same idempotency key)."""

    def __init__(self, reason: str, error: AgentError, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError):
        return None


class _WaitRetryAfter:
    """Honour the agent's Retry-After when it sent one, else exponential backoff with jitter."""

    def __init__(self, fallback: Any, max_wait_s: float) -> None:
        self.fallback = fallback
        self.max_wait_s = max_wait_s

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_wait_s)
        return float(self.fallback(state))


class _Bodies:
    """A job's request in each upload form, each encoded once: every retry in a form sends the same
    bytes, and both forms carry the same job id, arguments and file digests (one idempotency key)."""

    def __init__(self, request: AgentRequest) -> None:
        self.request = request
        self._encoded: dict[str, tuple[bytes, str]] = {}

    def get(self, form: str) -> tuple[bytes, str]:
        if form not in self._encoded:
            self._encoded.clear()  # one form's body alive at a time: a file can be 25 MiB
            self._encoded[form] = (
                encode_multipart(self.request)
                if form == UPLOAD_MULTIPART
                else (self.request.model_dump_json().encode(), "application/json")
            )
        return self._encoded[form]


@dataclass
class _AgentRuntime:
    config: AgentConfig
    breaker: CircuitBreaker
    limit: asyncio.Semaphore
    stats: RollingStats
    in_flight: int = 0


class AgentClient:
    """One per process. Pass in the process's aiohttp session and token source."""

    def __init__(
        self,
        registry: AgentRegistry,
        session: aiohttp.ClientSession,
        tokens: TokenSource | None = None,
        *,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        max_retry_after_s: float = 30.0,
    ) -> None:
        self.registry = registry
        self._session = session
        self._tokens = tokens or NoAuth()
        self._no_auth = NoAuth()
        self._wait = _WaitRetryAfter(
            wait_exponential_jitter(
                multiplier=backoff_initial_s, max=backoff_max_s, jitter=backoff_initial_s
            ),
            max_retry_after_s,
        )
        self._agents = {
            a.name: _AgentRuntime(
                a,
                CircuitBreaker(a.name, a.breaker_failures, a.breaker_cooldown_s),
                asyncio.Semaphore(a.max_concurrency),
                RollingStats(),
            )
            for a in registry
        }
        # The last build seen per agent (from /health or any answer's header) and who to tell
        # when it changes: the bot re-reads that agent's manifest.
        self._builds: dict[str, str] = {}
        self._build_listeners: list[Callable[[str, str, str | None], None]] = []
        # Agent -> the build whose manifest lists multipart uploads. Files go multipart only while
        # the agent still answers as that build: agents deploy on their own, and an older one reads
        # JSON only (it has no "uploads" in its manifest, or no manifest).
        self._multipart: dict[str, str] = {}

    def on_new_build(self, listener: Callable[[str, str, str | None], None]) -> None:
        """Call `listener(agent, build, previous)` whenever an agent answers with another build."""
        self._build_listeners.append(listener)

    def seen_build(self, agent: str) -> str | None:
        return self._builds.get(agent)

    def upload_form(self, agent: str) -> str:
        """How files go to `agent` now: multipart if its current build said it takes it, else JSON."""
        build = self._multipart.get(agent)
        return UPLOAD_MULTIPART if build is not None and build == self._builds.get(agent) else UPLOAD_JSON

    def _saw_build(self, agent: str, build: str | None, *, notify: bool = True) -> None:
        if not build or self._builds.get(agent) == build:
            return
        previous = self._builds.get(agent)
        self._builds[agent] = build
        if not notify:
            return  # the caller is reading the manifest itself
        for listener in self._build_listeners:
            listener(agent, build, previous)

    # ------------------------------------------------------------------ observability

    def breaker_state(self, agent: str) -> BreakerState:
        return self._agents[agent].breaker.state

    def breaker(self, agent: str) -> CircuitBreaker:
        return self._agents[agent].breaker

    def in_flight(self, agent: str) -> int:
        return self._agents[agent].in_flight

    def stats(self, agent: str, window_s: float = 3600.0) -> AgentStats:
        return self._agents[agent].stats.summary(window_s)

    # ------------------------------------------------------------------------- calls

    async def call(
        self,
        request: AgentRequest,
        *,
        deadline_s: float | None = None,
        trace: TraceContext | None = None,
    ) -> AgentResult:
        """Run one job on its agent. Raises an AgentError subclass on failure."""
        rt = self._agents[self.registry.for_command(request.command).name]
        agent, command = rt.config.name, request.command
        budget = deadline_s if deadline_s is not None else rt.config.timeout_s
        deadline = time.monotonic() + budget
        bodies = _Bodies(request.model_copy(update={"deadline_s": budget}))
        trace = trace or TraceContext.new()
        started = time.monotonic()
        outcome = "ok"
        try:
            async with asyncio.timeout(budget):
                async with rt.limit:
                    rt.in_flight += 1
                    _metrics.IN_FLIGHT.labels(agent).inc()
                    try:
                        return await self._retrying(rt, request, bodies, deadline, trace)
                    finally:
                        rt.in_flight -= 1
                        _metrics.IN_FLIGHT.labels(agent).dec()
        except TimeoutError:
            outcome = "timeout"
            raise AgentTimeout(
                f"no result within the job's deadline of {budget:.0f}s",
                limit_s=budget,
                agent=agent,
                command=command,
                status=504,
            ) from None
        except AgentError as exc:
            outcome = _outcome_of(exc)
            raise
        finally:
            elapsed = time.monotonic() - started
            _metrics.CALLS.labels(agent, command, outcome).inc()
            _metrics.LATENCY.labels(agent, command).observe(elapsed)
            if outcome not in ("rejected", "circuit_open"):
                rt.stats.record(elapsed, outcome == "ok")

    async def _retrying(
        self,
        rt: _AgentRuntime,
        request: AgentRequest,
        bodies: _Bodies,
        deadline: float,
        trace: TraceContext,
    ) -> AgentResult:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(rt.config.retries + 1)
            | stop_before_delay(max(0.0, deadline - time.monotonic())),
            wait=self._wait,
            before_sleep=lambda s: _metrics.RETRIES.labels(rt.config.name, _reason(s)).inc(),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(rt, request, bodies, deadline, trace.child())
        except _Retryable as exc:
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(
        self,
        rt: _AgentRuntime,
        request: AgentRequest,
        bodies: _Bodies,
        deadline: float,
        trace: TraceContext,
    ) -> AgentResult:
        cfg = rt.config
        agent, command = cfg.name, request.command
        if not rt.breaker.allow():
            wait_s = max(1, math.ceil(rt.breaker.retry_in_s))
            raise CircuitOpen(
                f"the {agent} agent failed repeatedly; retrying in {wait_s}s",
                retry_in_s=wait_s,
                agent=agent,
                command=command,
                status=503,
            )
        try:
            tokens = self._tokens if cfg.auth == "google" else self._no_auth
            try:
                auth = await tokens.headers(cfg.id_token_audience)
            except AuthError as exc:
                exc.agent, exc.command = agent, command
                raise _Retryable("auth", exc) from None
            form = self.upload_form(agent) if request.files else UPLOAD_JSON
            body, content_type = bodies.get(form)
            headers = {
                "Content-Type": content_type,
                IDEMPOTENCY_HEADER: request.job_id,
                **trace.headers(),
                **auth,
            }
            timeout = min(cfg.timeout_s, deadline - time.monotonic())
            if timeout <= 0:
                raise AgentTimeout("deadline passed", agent=agent, command=command, status=504)
            try:
                async with self._session.post(
                    cfg.url_for(request.command),
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                ) as resp:
                    payload = await resp.read()
                    status, retry_after = resp.status, resp.headers.get("Retry-After")
                    self._saw_build(agent, resp.headers.get(AGENT_BUILD_HEADER))
            except TimeoutError:
                rt.breaker.record_failure()
                raise _Retryable(
                    "timeout",
                    AgentTimeout(
                        f"no answer within {timeout:.0f}s",
                        limit_s=timeout,
                        agent=agent,
                        command=command,
                        status=504,
                    ),
                ) from None
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                rt.breaker.record_failure()
                raise _Retryable(
                    "connection",
                    AgentUnavailable(
                        f"could not reach the agent: {exc.__class__.__name__}", agent=agent, command=command
                    ),
                ) from None
            if (
                form == UPLOAD_MULTIPART
                and status in (400, 415, 422)
                and self.upload_form(agent) == UPLOAD_JSON
            ):
                # Another build answered (a rollback, or a revision split) and refused the form: the
                # same job again as JSON, which every agent reads.
                raise _Retryable(
                    "upload-form",
                    AgentRejected(
                        f"HTTP {status}", agent=agent, command=command, status=status, retryable=False
                    ),
                )
            return self._interpret(rt, request.command, status, payload, retry_after)
        finally:
            rt.breaker.release_probe()

    def _interpret(
        self,
        rt: _AgentRuntime,
        command: str,
        status: int,
        payload: bytes,
        retry_after: str | None,
    ) -> AgentResult:
        agent = rt.config.name
        if status == 200:
            try:
                result = AgentResult.model_validate_json(payload)
            except ValidationError as exc:
                rt.breaker.record_failure()
                raise ProtocolViolation(
                    f"agent answered 200 with an invalid result: {exc.error_count()} errors",
                    agent=agent,
                    command=command,
                    status=status,
                ) from None
            rt.breaker.record_success()
            return result

        info = _error_info(payload)
        if status == 429:
            # Busy, not broken: retried after Retry-After, never counted against the breaker.
            raise _Retryable(
                "429",
                AgentBusy(
                    info.message if info else "HTTP 429",
                    agent=agent,
                    command=command,
                    status=429,
                    code=info.code if info else None,
                    source=info.source if info else "agent",
                ),
                parse_retry_after(retry_after),
            )
        if info is None:
            if status >= 500:
                # No ErrorBody: a front end (load balancer, Cloud Run) answered for an agent that
                # crashed, is starting or is unreachable. Treated like a transport error.
                rt.breaker.record_failure()
                error_cls = AgentTimeout if status == 504 else AgentUnavailable
                raise _Retryable(
                    str(status),
                    error_cls(f"HTTP {status}", agent=agent, command=command, status=status),
                    parse_retry_after(retry_after),
                )
            rt.breaker.record_success()  # the agent (or its front end) is up; the request was wrong
            raise AgentRejected(
                f"HTTP {status}", agent=agent, command=command, status=status, retryable=False
            )
        self._verdict(rt, command, status, info, retry_after)

    def _verdict(
        self, rt: _AgentRuntime, command: str, status: int, info: ErrorInfo, retry_after: str | None
    ) -> NoReturn:
        """An error the agent explained: retry only what it calls retryable, and count against the
        breaker only failures it attributes to itself (docs/protocol.md, "Retries and the breaker")."""
        agent = rt.config.name
        if counts_against_breaker(status, info):
            rt.breaker.record_failure()
        else:
            rt.breaker.record_success()  # the agent answered coherently: it is healthy
        fields: dict[str, Any] = {
            "agent": agent,
            "command": command,
            "status": status,
            "code": info.code,
            "source": info.source,
        }
        if status < 500 or info.source == "input":
            raise AgentRejected(info.message, retryable=False, **fields)
        error_cls = AgentTimeout if status == 504 else AgentUnavailable
        error = error_cls(info.message, retryable=info.retryable, **fields)
        if info.retryable:
            raise _Retryable(str(status), error, parse_retry_after(retry_after))
        raise error

    # ------------------------------------------------------------------------ health

    async def _get(self, agent: str, path: str, timeout_s: float) -> tuple[int, bytes]:
        """One authenticated GET of an agent's read-only route (no retries, no breaker)."""
        cfg = self._agents[agent].config
        tokens = self._tokens if cfg.auth == "google" else self._no_auth
        headers = await tokens.headers(cfg.id_token_audience)
        url = f"{cfg.base_url.rstrip('/')}{path}"
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with self._session.get(url, headers=headers, timeout=timeout) as resp:
            return resp.status, await resp.read()

    async def health(self, agent: str, timeout_s: float = 5.0) -> tuple[HealthReport | None, float, str]:
        """Probe an agent's /health: (report or None, latency in seconds, error text)."""
        started = time.monotonic()
        try:
            status, payload = await self._get(agent, "/health", timeout_s)
            latency = time.monotonic() - started
            if status != 200:
                return None, latency, f"HTTP {status}"
            report = HealthReport.model_validate_json(payload)
            self._saw_build(agent, report.build)
            return report, latency, ""
        except (aiohttp.ClientError, TimeoutError, AuthError, ValidationError) as exc:
            return None, time.monotonic() - started, f"{exc.__class__.__name__}: {exc}"[:200]

    async def manifest(self, agent: str, timeout_s: float = 5.0) -> tuple[AgentManifest | None, str]:
        """GET the agent's /v1/manifest (one attempt, authenticated): (manifest or None, error text)."""
        try:
            status, payload = await self._get(agent, "/v1/manifest", timeout_s)
            if status == 404:
                return None, "no manifest (an agent older than protocol 1.1)"
            if status != 200:
                return None, f"HTTP {status}"
            manifest = AgentManifest.model_validate_json(payload)
            self._saw_build(agent, manifest.build, notify=False)
            if manifest.takes_multipart:
                self._multipart[agent] = manifest.build
            else:
                self._multipart.pop(agent, None)
            return manifest, ""
        except (aiohttp.ClientError, TimeoutError, AuthError) as exc:
            return None, f"{exc.__class__.__name__}: {exc}"[:200]
        except ValidationError as exc:
            return None, f"an unreadable manifest: {exc.error_count()} problem(s)"


def _error_info(payload: bytes) -> ErrorInfo | None:
    try:
        return ErrorBody.model_validate_json(payload).error
    except ValidationError:
        return None


def _reason(state: RetryCallState) -> str:
    exc = state.outcome.exception() if state.outcome else None
    return exc.reason if isinstance(exc, _Retryable) else "other"


def _outcome_of(exc: AgentError) -> str:
    return {
        CircuitOpen: "circuit_open",
        AgentBusy: "busy",
        AgentTimeout: "timeout",
        AgentRejected: "rejected",
        AuthError: "auth_error",
        ProtocolViolation: "protocol_error",
    }.get(type(exc), "unavailable")


def create_session(limit_per_host: int = 100) -> aiohttp.ClientSession:
    """The process's one client session: keep-alive pooling across all agents."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=limit_per_host, ttl_dns_cache=300),
        raise_for_status=False,
    )
