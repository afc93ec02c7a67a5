"""One provider HTTP call whose 4xx/5xx/timeouts become messages a user can act on."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from agents.common import AgentFailure
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode

log = get_logger("agents.audio_video.provider")


def _provider_message(body: bytes) -> str:
    """Google ({"error": {"message"}}) and OpenAI ({"error": {"message"}}) share a shape; else raw text."""
    try:
        doc = json.loads(body)
        error = doc.get("error", doc) if isinstance(doc, dict) else doc
        message = error.get("message") if isinstance(error, dict) else error
        return str(message)[:300]
    except ValueError:
        return body.decode(errors="replace").strip()[:300]


async def call(
    session: aiohttp.ClientSession,
    provider: str,
    url: str,
    timeout_s: float,
    headers: dict[str, str],
    **request: Any,
) -> dict[str, Any]:
    """POST and return the JSON answer, or raise AgentFailure naming the provider and what to do."""
    try:
        async with session.post(
            url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s), **request
        ) as resp:
            body = await resp.read()
            status = resp.status
    except TimeoutError:
        raise AgentFailure(
            ErrorCode.TIMEOUT,
            f"{provider} did not answer within {timeout_s:.0f} s — try again later or with a shorter file",
        ) from None
    except aiohttp.ClientError as exc:
        raise AgentFailure(
            ErrorCode.UNAVAILABLE, f"could not reach {provider} ({exc.__class__.__name__}) — try again later"
        ) from None
    if status >= 400:
        message = _provider_message(body)
        log.info("provider error", provider=provider, status=status, message=message)
        if status in (401, 403):
            raise AgentFailure(
                ErrorCode.PROVIDER_ERROR,
                f"{provider} refused the agent's credentials "
                f"({status}: {message}) — the operator must check the key or IAM role",
            )
        if status == 429:
            raise AgentFailure(
                ErrorCode.RATE_LIMITED, f"{provider} is rate-limiting us ({message}) — try again in a minute"
            )
        if status >= 500:
            raise AgentFailure(
                ErrorCode.PROVIDER_ERROR,
                f"{provider} failed ({status}: {message}) — try again later",
                retryable=True,
            )
        raise AgentFailure(
            ErrorCode.PROVIDER_ERROR,
            f"{provider} rejected the request ({status}: {message}) — check the file and options",
        )
    try:
        doc = json.loads(body)
    except ValueError:
        raise AgentFailure(
            ErrorCode.PROVIDER_ERROR,
            f"{provider} answered with something that is not JSON — try again later",
            retryable=True,
        ) from None
    if not isinstance(doc, dict):
        raise AgentFailure(ErrorCode.PROVIDER_ERROR, f"{provider} answered with unexpected JSON")
    return doc
