"""The caps of one JS render and what it loaded: decided before loading, reported to the user.

A page may ask for any number of sub-resources of any size; a render gets a count, a size per
resource, a total, a DOM size, a V8 heap and a time. Past a cap the browser is refused what it
asked for and the render goes on: the user gets what rendered, with a warning naming the limit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from agents.web_scraper.settings import ScraperSettings

# Sub-resources fetched at once for one render (what a browser opens per host over HTTP/1.1):
# bounds the bytes in flight to this many times the per-resource cap.
_PARALLEL_FETCHES = 6


@dataclass(frozen=True)
class RenderCaps:
    """What one render may load; each cap is named in the warning when it is reached."""

    max_requests: int
    max_resource_bytes: int
    max_total_bytes: int
    max_dom_bytes: int
    js_heap_mb: int
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: ScraperSettings) -> RenderCaps:
        return cls(
            max_requests=settings.render_max_requests,
            max_resource_bytes=int(settings.render_max_resource_mb * 2**20),
            max_total_bytes=int(settings.render_max_total_mb * 2**20),
            max_dom_bytes=int(settings.render_max_dom_mb * 2**20),
            js_heap_mb=settings.render_js_heap_mb,
            timeout_s=settings.render_timeout_s,
        )


@dataclass
class RenderReport:
    """What a render loaded and refused; `warnings` name each limit that was reached."""

    requests: int = 0
    bytes: int = 0
    skipped: int = 0
    limits_hit: dict[str, str] = field(default_factory=dict)  # limit name -> user-facing sentence
    fallback: str | None = None  # why the page as served is shown instead of the rendered one

    @property
    def warnings(self) -> list[str]:
        out = list(self.limits_hit.values())
        if self.skipped:
            out.insert(
                0,
                f"{self.skipped} sub-resource(s) of the page were not loaded (render limits below); "
                "the text shown is what rendered without them",
            )
        if self.fallback:
            out.append(self.fallback)
        return out

    def as_data(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "bytes": self.bytes,
            "skipped": self.skipped,
            "limits": sorted(self.limits_hit),
            "fallback": self.fallback is not None,
        }


class Budget:
    """The sub-resource budget of one render, shared by its concurrent route handlers."""

    def __init__(self, caps: RenderCaps, report: RenderReport) -> None:
        self.caps = caps
        self.report = report
        self.parallel = asyncio.Semaphore(_PARALLEL_FETCHES)

    def admit(self) -> bool:
        """Count one more sub-resource, or refuse it (and say which limit) when the count is reached."""
        if self.report.requests >= self.caps.max_requests:
            self._refuse(
                "requests",
                f"the page asked for more than {self.caps.max_requests} sub-resources; the rest were "
                "skipped (limit SPOTRUN_SCRAPER_RENDER_MAX_REQUESTS)",
            )
            return False
        if self.report.bytes >= self.caps.max_total_bytes:
            self._total_reached()
            return False
        self.report.requests += 1
        return True

    def room(self) -> int:
        """The most bytes the next sub-resource may have: its own cap, or what is left of the total."""
        return max(1, min(self.caps.max_resource_bytes, self.caps.max_total_bytes - self.report.bytes))

    def take(self, size: int) -> bool:
        if self.report.bytes + size > self.caps.max_total_bytes:
            self._total_reached()
            return False
        self.report.bytes += size
        return True

    def too_big(self) -> None:
        if self.room() < self.caps.max_resource_bytes:  # refused because the total is nearly spent
            self._total_reached()
            return
        self._refuse(
            "resource_size",
            f"sub-resources larger than {self.caps.max_resource_bytes / 2**20:g} MB were skipped "
            "(limit SPOTRUN_SCRAPER_RENDER_MAX_RESOURCE_MB)",
        )

    def _total_reached(self) -> None:
        self._refuse(
            "total_size",
            f"the page's sub-resources passed {self.caps.max_total_bytes / 2**20:g} MB in all; the rest "
            "were skipped (limit SPOTRUN_SCRAPER_RENDER_MAX_TOTAL_MB)",
        )

    def _refuse(self, limit: str, sentence: str) -> None:
        self.report.skipped += 1
        self.report.limits_hit.setdefault(limit, sentence)
