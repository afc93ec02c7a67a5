"""Agent-side failures and the one middleware that turns every error into a protocol body."""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from spotrun.logs import get_logger
from spotrun.protocol import ErrorBody, ErrorCode, ErrorInfo, ErrorSource, default_source

log = get_logger("agents.errors")

_STATUS = {
    ErrorCode.INVALID_ARGUMENT: 422,
    ErrorCode.UNSUPPORTED_MEDIA: 415,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BLOCKED_URL: 422,
    ErrorCode.FETCH_FAILED: 502,
    ErrorCode.PROVIDER_NOT_CONFIGURED: 501,
    ErrorCode.PROVIDER_ERROR: 502,
    ErrorCode.CONTENT_POLICY: 422,
    ErrorCode.ENGINE_UNAVAILABLE: 501,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}
_RETRYABLE = {ErrorCode.RATE_LIMITED, ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE}


class AgentFailure(Exception):
    """Raised by handlers and engines: a machine code plus a message a Discord user can act on.

    `retryable` and `source` are the agent's verdict, which the client honours: it retries only
    what is retryable, and counts against its breaker only what the agent blames on itself
    ("agent"), never what it blames on the request ("input") or a named third party ("upstream").
    Both default from the code (docs/protocol.md, "Retries and the breaker").
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        status: int | None = None,
        retryable: bool | None = None,
        source: ErrorSource | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS[code]
        self.retryable = code in _RETRYABLE if retryable is None else retryable
        self.source = default_source(code) if source is None else source


def error_response(
    code: ErrorCode, message: str, status: int, retryable: bool, source: ErrorSource | None = None
) -> web.Response:
    info = ErrorInfo(code=code, message=message, retryable=retryable, source=source or default_source(code))
    body = ErrorBody(error=info)
    return web.Response(status=status, body=body.model_dump_json().encode(), content_type="application/json")


def failure_response(exc: AgentFailure) -> web.Response:
    return error_response(exc.code, exc.message, exc.status, exc.retryable, exc.source)


def describe_validation(exc: ValidationError) -> str:
    """`field: reason` pairs, short enough for a Discord message."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"] if p not in ("args",)) or "request"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AgentFailure as exc:
        return failure_response(exc)
    except ValidationError as exc:
        return error_response(ErrorCode.INVALID_ARGUMENT, describe_validation(exc), 422, False)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(ErrorCode.PAYLOAD_TOO_LARGE, f"request too large: {exc.text}", 413, False)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = ErrorCode.NOT_FOUND if exc.status == 404 else ErrorCode.INVALID_ARGUMENT
        return error_response(code, exc.reason, exc.status, False)
    except TimeoutError:
        return error_response(ErrorCode.TIMEOUT, "the agent ran out of time for this job", 504, True)
    except Exception as exc:  # noqa: BLE001 - the edge: log it, never show a traceback
        log.error(
            "unhandled error",
            error=repr(exc),
            stack="".join(traceback.format_exception(exc))[-4000:],
        )
        # Not retryable: the same input would crash the handler again (a poison input must run
        # once, not once per retry). It still counts once against the caller's breaker.
        return error_response(
            ErrorCode.INTERNAL, "the agent hit an internal error; it has been logged", 500, False
        )
