"""Structured logging: Cloud Logging JSON lines in production, readable lines on a terminal.

Both structlog loggers and stdlib loggers (discord.py, aiohttp, google-auth) go through the
same processors, so every line is JSON with `severity`/`message`, carries the current trace,
and has secrets redacted.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

_SECRET_KEY = re.compile(r"(token|secret|password|authorization|api[_-]?key|credential)", re.I)
_BEARER = re.compile(r"(Bearer|Bot)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_secrets: set[str] = set()
_project: str | None = None

REDACTED = "[redacted]"


def register_secret(value: str | None) -> None:
    """Make a secret value unprintable: any log line containing it gets it replaced."""
    if value and len(value) >= 6:
        _secrets.add(value)


def redact_text(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _JWT.sub(REDACTED, text)


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if _SECRET_KEY.search(key) and not key.endswith(("_count", "_refreshes")):
            return REDACTED
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        event[key] = _redact_value(key, event[key])
    return event


def _cloud_logging_fields(_: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event["severity"] = event.pop("level", method).upper()
    event["message"] = event.pop("event", "")
    trace = event.pop("trace_id", None)
    if trace:
        event["logging.googleapis.com/trace"] = f"projects/{_project}/traces/{trace}" if _project else trace
    span = event.pop("span_id", None)
    if span:
        event["logging.googleapis.com/spanId"] = span
    return event


def configure_logging(
    level: str = "INFO",
    fmt: Literal["auto", "json", "console"] = "auto",
    project: str | None = None,
    stream: Any = None,
) -> None:
    """Set up structlog and stdlib logging for this process (call once, at startup)."""
    global _project
    _project = project
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        structlog.processors.format_exc_info,
        _redact,
    ]
    renderer: Any
    if fmt == "json":
        shared.append(_cloud_logging_fields)
        renderer = structlog.processors.JSONRenderer(default=str)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # discord.py's gateway chatter at DEBUG is noise; aiohttp.access duplicates our request logs.
    logging.getLogger("discord.gateway").setLevel(max(logging.INFO, root.level))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
