"""ShardKeeper on both store backends, two or three keepers standing for processes: preferred shards
first, the others' shards left alone during the start-up grace, a dead keeper's shards shared by
the survivors, a SIGTERM hand-over that closes the old session only after the new one is READY,
and commands claimed in the store only while two sessions may see them. The gateway is a stand-in
that records what discord.py would be asked to connect and close (the drills run the real one)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import pytest

from bot.jobs.store import JobStore
from bot.settings import BotSettings
from bot.shards.keeper import ShardKeeper

FAST = {"shard_lease_s": 1.0, "shard_tick_s": 0.1, "identify_interval_s": 0.0, "shard_handover_s": 3.0}


@dataclass
class Gateway:
    """Connects a shard at once and reports READY, as the emulator would."""

    keeper: ShardKeeper | None = None
    launched: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)

    async def launch(self, shard_id: int) -> None:
        assert self.keeper is not None
        await self.keeper.before_identify(shard_id)
        self.launched.append(shard_id)
        await self.keeper.on_ready(shard_id)

    async def close(self, shard_id: int) -> None:
        self.closed.append(shard_id)

    async def settle(self, timeout_s: float) -> int:
        return 0


Starter = Callable[..., Awaitable[tuple[ShardKeeper, Gateway]]]


@pytest.fixture
async def keeper(store_url: str) -> AsyncIterator[Starter]:
    async with AsyncExitStack() as stack:

        async def start(
            pod: str, count: int, replicas: int, **settings: float
        ) -> tuple[ShardKeeper, Gateway]:
            store = await JobStore.open(store_url)
            stack.push_async_callback(store.close)
            config = BotSettings(pod_name=pod, replicas=replicas, **{**FAST, **settings})  # type: ignore[arg-type]
            gateway = Gateway()
            k = ShardKeeper(store, gateway, config, jobs_running=lambda: 0, backoff=lambda n: 0.0)  # type: ignore[arg-type]
            gateway.keeper = k
            await k.start(count, max_concurrency=1)
            stack.push_async_callback(k.stop)
            return k, gateway

        yield start


def shared_only(store_url: str) -> None:
    if not store_url.startswith("postgres"):
        pytest.skip(
            "SQLite is one process's store: a start voids old leases, and there is no one to hand over to"
        )


async def until(cond: Callable[[], object], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_each_process_takes_its_preferred_shards_and_leaves_the_others_during_the_grace(
    keeper: Starter,
) -> None:
    first, _ = await keeper("bot-0", 4, 2)
    await until(lambda: first.live == {0, 2})
    await asyncio.sleep(0.5)  # five ticks: shards 1 and 3 are bot-1's, which is still starting
    assert first.held == {0, 2}
    second, _ = await keeper("bot-1", 4, 2)
    await until(lambda: second.live == {1, 3})
    assert first.gateway_ok and second.gateway_ok
    standby, gateway = await keeper("bot-2", 4, 2)  # an ordinal beyond the replicas: prefers none
    await asyncio.sleep(0.5)
    assert standby.held == set() and gateway.launched == [] and standby.gateway_ok


async def test_unheld_shards_go_to_anyone_after_the_grace(keeper: Starter) -> None:
    only, _ = await keeper("bot-0", 2, 2, shard_unclaimed_grace_s=0.3)
    await until(lambda: only.live == {0, 1})  # bot-1 never came


async def test_a_dead_process_shards_are_shared_by_the_survivors(keeper: Starter, store_url: str) -> None:
    shared_only(store_url)
    a, _ = await keeper("bot-0", 6, 3)
    b, _ = await keeper("bot-1", 6, 3)
    c, _ = await keeper("bot-2", 6, 3)
    await until(lambda: a.live == {0, 3} and b.live == {1, 4} and c.live == {2, 5})
    assert b._loop_task is not None
    b._loop_task.cancel()  # SIGKILL: it stops renewing, and releases nothing
    died = time.monotonic()
    await until(lambda: {1, 4} <= a.held | c.held, within=5)
    took = time.monotonic() - died
    assert 0.5 < took < 3.0, took  # the lease (1 s) had to lapse first
    assert len(a.held) == len(c.held) == 3, (a.held, c.held)  # one each: one other shard per tick


async def test_sigterm_hands_over_and_closes_only_after_the_new_session_is_ready(
    keeper: Starter, store_url: str
) -> None:
    shared_only(store_url)
    active, old = await keeper("bot-0", 1, 2)
    standby, new = await keeper("bot-1", 1, 2)
    await until(lambda: active.live == {0})
    assert await active.should_handle(None, "m:1")  # one session: no claim needed
    assert standby.held == set() and not await standby.should_handle(None, "m:2")  # not its shard
    await active.hand_over(timeout_s=3.0)
    assert new.launched == [0] and old.closed == [0]
    assert standby.live == {0} and active.held == set()
    # Both may have received the next command: the first to claim it runs it, in either order.
    assert await standby.should_handle(None, "m:3")
    assert not await active.should_handle(None, "m:3")  # and the old one no longer holds the shard
    assert (await standby.store.shard_leases())[0].owner == standby.store.owner


async def test_without_a_standby_a_sigterm_does_not_wait(keeper: Starter) -> None:
    active, gateway = await keeper("bot-0", 1, 2, shard_handover_s=5.0)
    await until(lambda: active.live == {0})
    started = time.monotonic()
    await active.hand_over(timeout_s=5.0)
    assert time.monotonic() - started < 1.0
    assert gateway.closed == []  # closed with the client at exit, not here


async def test_a_pod_back_after_its_shards_moved_gets_them_back_without_a_gap(
    keeper: Starter, store_url: str
) -> None:
    shared_only(store_url)
    first, first_gw = await keeper("bot-0", 2, 2, shard_unclaimed_grace_s=0.2)
    await until(lambda: first.live == {0, 1})  # bot-1 was not there: bot-0 took its shard too
    _, standby_gw = await keeper("bot-2", 2, 2)  # prefers none: must leave shard 1 to bot-1
    second, second_gw = await keeper("bot-1", 2, 2)
    await until(lambda: second.live == {1} and first.held == {0}, within=10)
    assert first_gw.closed == [1] and second_gw.launched == [1] and standby_gw.launched == []
    assert (await first.store.shard_leases())[1].owner == second.store.owner
    # The old holder kept claiming commands of that shard until it closed; the new one does for a while.
    assert not await first.should_handle(((1000 * 2 + 1) << 22), "m:9")  # not its shard any more
    await asyncio.sleep(0.5)
    assert first.held == {0} and second.held == {1}  # stable: nothing moves back and forth


async def test_on_sigterm_a_shard_only_the_leaving_pod_prefers_goes_to_the_standby_at_once(
    keeper: Starter, store_url: str
) -> None:
    shared_only(store_url)
    leaving, _ = await keeper("bot-0", 2, 2, shard_unclaimed_grace_s=0.2)
    await until(lambda: leaving.live == {0, 1})
    standby, _ = await keeper("bot-2", 2, 2)  # prefers none
    owner, _ = await keeper("bot-1", 2, 2)  # prefers shard 1
    await until(lambda: owner.live == {1}, within=10)  # given back first
    started = time.monotonic()
    await leaving.hand_over(timeout_s=3.0)
    assert standby.held == {0}  # nobody else prefers shard 0: the standby took it, without waiting
    assert time.monotonic() - started < 1.0
