"""Typed errors raised by agent_client; each carries agent, command, HTTP status, retryable and source.

AgentError
├── RegistryError          the agent registry file is missing or invalid (startup)
├── AuthError              no ID token could be obtained for the agent's audience
├── AgentRejected          the input or the request is wrong: any 4xx but 429, or a failure the
│                          agent attributes to the input (e.g. a URL that 404s); never retried
├── AgentUnavailable       the agent could not do the work now (retryable in principle)
│   ├── CircuitOpen        the breaker is open: failing fast without calling
│   ├── AgentBusy          429 / concurrency limit, after retries
│   └── AgentTimeout       the call's deadline passed
└── ProtocolViolation      the agent answered something that is not the protocol
"""

from __future__ import annotations

from typing import Any

from spotrun.protocol import ErrorCode, ErrorSource


class AgentError(Exception):
    retryable_default = False

    def __init__(
        self,
        message: str,
        *,
        agent: str | None = None,
        command: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        code: ErrorCode | None = None,
        source: ErrorSource = "agent",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.agent = agent
        self.command = command
        self.status = status
        self.retryable = self.retryable_default if retryable is None else retryable
        self.code = code
        # Whose fault: "agent" (the agent or the way to it), "input" or "upstream" (a provider, a site).
        self.source = source

    def __str__(self) -> str:
        where = "/".join(p for p in (self.agent, self.command) if p)
        status = f" [{self.status}]" if self.status else ""
        return f"{where}{status}: {self.message}" if where else self.message


class RegistryError(AgentError):
    pass


class AuthError(AgentError):
    retryable_default = True


class AgentRejected(AgentError):
    pass


class AgentUnavailable(AgentError):
    retryable_default = True


class CircuitOpen(AgentUnavailable):
    """The agent's breaker is open: no call is sent until it lets a trial through."""

    def __init__(self, message: str, *, retry_in_s: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_in_s = retry_in_s  # whole seconds until the breaker lets a trial call through


class AgentBusy(AgentUnavailable):
    pass


class AgentTimeout(AgentUnavailable):
    """No answer in time: `limit_s` is the limit that passed (one attempt's, or the job's deadline)."""

    def __init__(self, message: str, *, limit_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit_s = limit_s


class ProtocolViolation(AgentError):
    pass
