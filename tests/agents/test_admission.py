"""Heavy-work slots: sized from memory, a full instance answers 429 in time, slots are returned."""

from __future__ import annotations

import asyncio

import pytest

from agents.common.admission import HeavyWork, instance_memory_bytes, slots_for
from agents.common.errors import AgentFailure
from spotrun.protocol import ErrorCode


def test_slots_from_memory() -> None:
    gib = 2**30
    assert slots_for(8 * gib, 2 * gib, 1 * gib) == 3
    assert slots_for(1 * gib, 2 * gib, 1 * gib) == 1  # never zero: one job may always run
    assert instance_memory_bytes(512) == 512 * 2**20
    assert instance_memory_bytes() > 0


async def test_full_instance_refuses_with_a_retryable_429_after_the_wait() -> None:
    heavy = HeavyWork(slots=1, wait_s=0.2)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with heavy.slot(10):
            entered.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await entered.wait()
    with pytest.raises(AgentFailure) as info:
        async with heavy.slot(10):
            pass
    assert info.value.code is ErrorCode.RATE_LIMITED and info.value.status == 429 and info.value.retryable
    assert "busy" in info.value.message
    release.set()
    await task
    assert heavy.in_use == 0
    async with heavy.slot(10):  # the slot came back
        assert heavy.in_use == 1


async def test_wait_never_exceeds_the_jobs_remaining_time() -> None:
    heavy = HeavyWork(slots=1, wait_s=30)
    async with heavy.slot(10):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AgentFailure):
            async with heavy.slot(0.1):
                pass
        assert loop.time() - started < 2
