"""Shard leases in the job store, on both backends: one holder per shard, taken over when it lapses
or is handed over, IDENTIFYs paced per bucket and backed off per shard across processes, the
process table for /status, and a Discord event acted on by one process. Two stores on one
database stand for two processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from bot.jobs.store import JobStore
from bot.runtime.lifecycle import backoff_s

Opener = Callable[[], Awaitable[JobStore]]


@pytest.fixture
async def open_store(store_url: str) -> AsyncIterator[Opener]:
    async with AsyncExitStack() as stack:

        async def opener() -> JobStore:
            store = await JobStore.open(store_url)
            stack.push_async_callback(store.close)
            return store

        yield opener


async def test_a_shard_has_one_holder_and_moves_when_its_lease_lapses(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    assert await a.take_shard(0, 0.3)
    assert not await b.take_shard(0, 0.3)
    assert await b.take_shard(1, 30)
    assert await a.renew_shards([0, 1], 0.3) == {0}  # shard 1 is b's: renewing does not take it
    await asyncio.sleep(0.4)
    assert await b.take_shard(0, 30)
    assert await a.renew_shards([0], 30) == set()  # a stalled holder learns it lost the shard
    leases = await a.shard_leases()
    assert {s: lease.owner for s, lease in leases.items()} == {0: b.owner, 1: b.owner}
    await b.release_shards([1])
    assert await a.take_shard(1, 30)  # released: taken at once, no lapse to wait for


async def test_a_shard_handed_over_goes_to_another_process_and_the_old_sees_it_ready(
    open_store: Opener,
) -> None:
    old, new = await open_store(), await open_store()
    assert await old.take_shard(0, 30)
    assert not await new.take_shard(0, 30)
    assert await old.hand_over_shards() == 1
    assert not await old.take_shard(0, 30)  # the one leaving cannot take it back
    assert await new.take_shard(0, 30)
    lease = (await old.shard_leases())[0]
    assert lease.owner == new.owner and not lease.handing_over and lease.ready_at is None
    await old.shard_ready(0)  # not its shard any more: changes nothing
    assert (await old.shard_leases())[0].ready_at is None
    await new.shard_ready(0)
    assert (await old.shard_leases())[0].ready_at is not None
    await old.release_shards()  # the old holder's clean exit must not drop the new holder's lease
    assert (await new.shard_leases())[0].owner == new.owner
    assert (await new.shard_leases())[0].expires_at > time.time()


async def test_identifies_are_paced_per_bucket_across_processes(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()

    def no_backoff(n: int) -> float:
        return 0.0

    waits = [
        await a.reserve_identify(0, 0, 5.0, no_backoff, 600),
        await b.reserve_identify(2, 0, 5.0, no_backoff, 600),  # same bucket, another process
        await a.reserve_identify(4, 0, 5.0, no_backoff, 600),
        await b.reserve_identify(1, 1, 5.0, no_backoff, 600),  # another bucket: at once
    ]
    assert waits[0] == pytest.approx(0, abs=0.5)
    assert waits[1] == pytest.approx(5, abs=0.5)
    assert waits[2] == pytest.approx(10, abs=0.5)
    assert waits[3] == pytest.approx(0, abs=0.5)
    assert await a.identifies_since(time.time() - 60) == {0: 1, 1: 1, 2: 1, 4: 1}


async def test_a_crash_looping_shard_backs_off_whichever_process_identifies_it(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    schedule = (0.0, 5.0, 15.0)

    def backoff(n: int) -> float:
        return backoff_s(n, schedule)  # as the process back-off: n earlier starts in the window

    first = await a.reserve_identify(3, 0, 0.0, backoff, 600)
    second = await b.reserve_identify(3, 0, 0.0, backoff, 600)  # a died; b takes over at once
    third = await a.reserve_identify(3, 0, 0.0, backoff, 600)  # b died too: now it waits
    fourth = await b.reserve_identify(3, 0, 0.0, backoff, 600)
    assert first == pytest.approx(0, abs=0.5)
    assert second == pytest.approx(0, abs=0.5)
    assert third == pytest.approx(5, abs=0.5)
    assert fourth == pytest.approx(5 + 15, abs=0.5)
    assert await a.reserve_identify(7, 0, 0.0, backoff, 600) == pytest.approx(0, abs=0.5)  # per shard


async def test_processes_are_listed_while_they_beat(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    now = time.time()
    await a.beat_process(
        pod="bot-0",
        zone="z-a",
        started_at=now,
        shards=[0, 2],
        gateway=True,
        jobs_running=3,
        preferred=[0, 2, 4],
    )
    await b.beat_process(pod="bot-1", zone="z-b", started_at=now, shards=[], gateway=True, jobs_running=0)
    listed = {p.pod: p for p in await b.processes(seen_within_s=5)}
    assert listed["bot-0"].shards == (0, 2) and listed["bot-0"].jobs_running == 3
    assert listed["bot-0"].preferred == (0, 2, 4)
    assert listed["bot-1"].shards == () and listed["bot-1"].zone == "z-b"
    await a.drop_process()
    assert [p.pod for p in await b.processes(seen_within_s=5)] == ["bot-1"]
    await asyncio.sleep(0.3)
    assert await b.processes(seen_within_s=0.2) == []  # stale: not shown


async def test_an_event_is_claimed_by_one_process(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    got = await asyncio.gather(*(s.claim_event("m:123") for s in (a, b, a, b)))
    assert sorted(got) == [False, False, False, True]
    assert await b.claim_event("i:123")  # another id: claimable
    assert await a.purge_events(time.time() + 1) == 2
    assert await a.claim_event("m:123")
