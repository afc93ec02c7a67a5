"""A per-agent circuit breaker: fail fast while an agent is down, probe it after a cool-down."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from agent_client import _metrics


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


_GAUGE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class CircuitBreaker:
    """Opens after `failures` consecutive failed attempts; after `cooldown_s` lets one probe through.

    A failed attempt is evidence the agent itself is unhealthy (the client decides what counts:
    transport errors, timeouts, 5xx the agent did not blame on the input or a third party).
    """

    def __init__(
        self,
        name: str,
        failures: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at = 0.0
        self._probe_out = False
        self._state = BreakerState.CLOSED
        _metrics.BREAKER_STATE.labels(name).set(0)

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            self._set(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    @property
    def retry_in_s(self) -> float:
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May an attempt go out now? In half-open state only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_out:
            self._probe_out = True
            return True
        return False

    def record_success(self) -> None:
        self._consecutive = 0
        self._probe_out = False
        self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._consecutive += 1
        self._probe_out = False
        if self._state is BreakerState.HALF_OPEN or self._consecutive >= self.threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def release_probe(self) -> None:
        """A probe ended without telling us anything about the agent (e.g. it was cancelled)."""
        self._probe_out = False

    def _set(self, state: BreakerState) -> None:
        self._state = state
        _metrics.BREAKER_STATE.labels(self.name).set(_GAUGE[state])
