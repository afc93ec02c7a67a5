"""One provider HTTP call whose 4xx/5xx/timeouts become messages a user can act on."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from agents.common import AgentFailure, providers
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode

log = get_logger("agents.audio_video.provider")


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
        raise providers.timeout(provider, timeout_s, "try again later or with a shorter file") from None
    except aiohttp.ClientError as exc:
        raise providers.unreachable(provider, exc) from None
    if status >= 400:
        message = providers.error_detail(body)
        log.info("provider error", provider=provider, status=status, message=message)
        raise providers.status_failure(
            provider,
            status,
            message,
            credentials="the key or IAM role",
            advice="check the file and options",
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
