"""A third-party provider's failures as protocol errors, attributed to the provider, for every agent.

Every failure built here has source "upstream": the agent answered, so the caller's breaker for
the agent never counts it (a provider outage must not block the agent's local commands, and a
refused prompt must not block other users). Whether the client retries follows the provider's
answer: its 5xx, 429, timeouts and transport errors may succeed again; its 4xx will not.
"""

from __future__ import annotations

import json
from typing import Any

from agents.common.errors import AgentFailure
from spotrun.protocol import ErrorCode


def error_detail(body: Any) -> str:
    """The human part of a provider's error body, whichever common shape it has (raw bytes, text or
    parsed JSON such as OpenAI's and Google's {"error": {"message"}}, or Replicate's {"detail"})."""
    if isinstance(body, bytes | bytearray):
        text = bytes(body).decode(errors="replace").strip()
        try:
            body = json.loads(text)
        except ValueError:
            return text[:300] or "no details"
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err.get("title") or err)[:300]
        return str(body.get("detail") or err)[:300]
    return str(body)[:300] or "no details"


def status_failure(label: str, status: int, detail: str, *, credentials: str, advice: str) -> AgentFailure:
    """The default meaning of a provider's error status; adapters check content policy first.

    `credentials` names what the operator must check when the provider refuses our key or role;
    `advice` tells the user what to change when it refuses the request itself.
    """
    detail = detail[:300]
    if status in (401, 403):
        return upstream(
            ErrorCode.PROVIDER_ERROR,
            f"{label} refused the agent's credentials ({status}: {detail}) — "
            f"the operator must check {credentials}",
            retryable=False,
        )
    if status == 429:
        return upstream(
            ErrorCode.RATE_LIMITED,
            f"{label} is rate-limiting this agent ({detail}) — wait a minute and retry",
        )
    if status >= 500:
        return upstream(
            ErrorCode.PROVIDER_ERROR,
            f"{label} failed ({status}: {detail}) — try again in a moment",
            retryable=True,
        )
    return upstream(
        ErrorCode.PROVIDER_ERROR,
        f"{label} rejected the request ({status}: {detail}) — {advice}",
        retryable=False,
    )


def timeout(label: str, timeout_s: float, advice: str) -> AgentFailure:
    return upstream(
        ErrorCode.TIMEOUT, f"{label} did not finish within {timeout_s:.0f}s — {advice}", retryable=True
    )


def unreachable(label: str, exc: Exception) -> AgentFailure:
    return upstream(
        ErrorCode.PROVIDER_ERROR,
        f"could not reach {label} ({type(exc).__name__}) — try again in a moment",
        retryable=True,
    )


def upstream(code: ErrorCode, message: str, *, retryable: bool | None = None) -> AgentFailure:
    """A failure of the provider, whatever its code (a provider's timeout is not the agent's)."""
    return AgentFailure(code, message, retryable=retryable, source="upstream")
