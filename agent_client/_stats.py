"""Rolling per-agent call statistics for the admin /status view (last hour by default)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AgentStats:
    calls: int
    errors: int
    p50_s: float | None
    p95_s: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


class RollingStats:
    def __init__(self, maxlen: int = 20_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._samples: deque[tuple[float, float, bool]] = deque(maxlen=maxlen)
        self._clock = clock

    def record(self, latency_s: float, ok: bool) -> None:
        self._samples.append((self._clock(), latency_s, ok))

    def summary(self, window_s: float = 3600.0) -> AgentStats:
        since = self._clock() - window_s
        recent = [(lat, ok) for ts, lat, ok in self._samples if ts >= since]
        if not recent:
            return AgentStats(0, 0, None, None)
        latencies = sorted(lat for lat, _ in recent)

        def pct(q: float) -> float:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

        return AgentStats(len(recent), sum(1 for _, ok in recent if not ok), pct(0.5), pct(0.95))
