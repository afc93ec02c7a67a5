"""Per-instance admission for heavy work: a semaphore sized from the memory the instance has.

Cloud Run's `containerConcurrency` bounds requests, not memory: four requests that each decode a
big image fit the concurrency and still kill the instance. Handlers therefore take a *heavy slot*
around the part of their work that holds big buffers (decoding, rendering, transcoding). The
number of slots is what the instance's memory allows for one heavy job of this agent; a request
that cannot get a slot in time is told the instance is busy (429, retryable: the client retries,
and Cloud Run may route the retry to another instance), never queued past its deadline.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from agents.common.errors import AgentFailure
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode

log = get_logger("agents.admission")

# cgroup v2 (Cloud Run gen2, GKE) then v1: the memory limit the kernel enforces on us.
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def instance_memory_bytes(configured_mb: float | None = None) -> int:
    """The memory this instance may use: the setting, else the cgroup limit, else physical RAM."""
    if configured_mb:
        return int(configured_mb * 1024 * 1024)
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in _CGROUP_LIMITS:
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and 0 < int(raw) < physical:  # "max" or a huge v1 sentinel mean "no limit"
            return int(raw)
    return physical


def slots_for(memory_bytes: int, per_job_bytes: int, reserve_bytes: int) -> int:
    """How many heavy jobs fit beside the process itself (`reserve`); always at least one."""
    if per_job_bytes <= 0:
        return 1
    return max(1, (memory_bytes - reserve_bytes) // per_job_bytes)


class HeavyWork:
    """The heavy-work slots of one agent instance (one per app, created by the app factory)."""

    def __init__(self, slots: int, wait_s: float) -> None:
        self.slots = slots
        self.wait_s = wait_s
        self._sem = asyncio.Semaphore(slots)
        self.in_use = 0

    @asynccontextmanager
    async def slot(self, remaining_s: float) -> AsyncIterator[None]:
        """Hold one slot for the block; wait at most `wait_s` (and never past the job's deadline)."""
        wait = max(0.0, min(self.wait_s, remaining_s))
        try:
            async with asyncio.timeout(wait):
                await self._sem.acquire()
        except TimeoutError:
            log.warning("heavy work refused: instance busy", slots=self.slots, waited_s=round(wait, 1))
            raise AgentFailure(
                ErrorCode.RATE_LIMITED,
                f"this agent instance is busy with {self.slots} large job(s); try again shortly",
                retryable=True,
            ) from None
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            self._sem.release()
