"""W3C trace context: one trace per job, propagated to agents so their logs join the bot's."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CLOUD = re.compile(r"^([0-9a-f]{32})(?:/(\d+))?(?:;o=(\d))?$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str

    @classmethod
    def new(cls) -> TraceContext:
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, secrets.token_hex(8))

    def headers(self) -> dict[str, str]:
        return {
            "traceparent": f"00-{self.trace_id}-{self.span_id}-01",
            "X-Cloud-Trace-Context": f"{self.trace_id}/{int(self.span_id, 16)};o=1",
        }

    @classmethod
    def from_headers(cls, headers: object) -> TraceContext | None:
        get = getattr(headers, "get", None)
        if get is None:
            return None
        if m := _TRACEPARENT.match(str(get("traceparent", "")).strip().lower()):
            return cls(m.group(1), m.group(2))
        if m := _CLOUD.match(str(get("X-Cloud-Trace-Context", "")).strip().lower()):
            span = format(int(m.group(2)), "016x")[-16:] if m.group(2) else secrets.token_hex(8)
            return cls(m.group(1), span)
        return None
