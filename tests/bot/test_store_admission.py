"""Admission in the job store: the per-user count and the insert are one transaction, also when
several stores (processes) share the database file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.jobs.limits import UserLimitReached, UserLimits
from bot.jobs.store import JobState, JobStore

LIMITS = UserLimits(max_running=1, max_queued=2)

Opener = Callable[[str | Path], Awaitable[JobStore]]


@pytest.fixture
async def open_store() -> AsyncIterator[Opener]:
    """Stores closed even when a test fails (aiosqlite's threads would keep the process alive)."""
    async with AsyncExitStack() as stack:

        async def opener(path: str | Path) -> JobStore:
            store = await JobStore.open(path)
            stack.push_async_callback(store.close)
            return store

        yield opener


async def create(store: JobStore, user: str, limits: UserLimits | None = LIMITS) -> str:
    job = await store.create_job(command="tts", args={"text": "hi"}, user_id=user, limits=limits)
    return job.id


async def test_over_the_limit_nothing_is_stored(store_url: str, open_store: Opener) -> None:
    store = await open_store(store_url)
    first = await create(store, "alice")
    await store.transition(first, JobState.RUNNING)
    for _ in range(2):
        await create(store, "alice")
    with pytest.raises(UserLimitReached, match="1 running and 2 queued") as refused:
        await create(store, "alice")
    assert (refused.value.running, refused.value.queued) == (1, 2)
    assert len(await store.user_jobs("alice")) == 3  # the refused command left no row
    await create(store, "bob")  # other users are not affected
    await store.transition(first, JobState.SUCCEEDED)
    await create(store, "alice")  # a finished job frees its place
    await create(store, "alice", limits=None)  # without limits (a resumed or internal job) always
    assert len(await store.user_jobs("alice")) == 5


@pytest.mark.parametrize("where", ["store", ":memory:"])
async def test_a_concurrent_burst_admits_exactly_the_limit(
    store_url: str, open_store: Opener, where: str
) -> None:
    store = await open_store(store_url if where == "store" else ":memory:")
    results = await asyncio.gather(*(create(store, "alice") for _ in range(12)), return_exceptions=True)
    assert sum(isinstance(r, str) for r in results) == 3
    assert all(isinstance(r, str | UserLimitReached) for r in results), results
    assert len(await store.user_jobs("alice")) == 3


async def test_processes_sharing_the_store_admit_exactly_the_limit(
    store_url: str, open_store: Opener
) -> None:
    # Four stores: four connections on their own threads, which SQLite locks against each other
    # exactly as it locks four processes. Six users burst at once, each through all four: more
    # processes than the limit has places, so a count that is not part of the insert over-admits.
    # On PostgreSQL: four pools, as four processes have.
    stores = [await open_store(store_url) for _ in range(4)]
    busy = await stores[0].create_job(command="tts", args={"text": "x"}, user_id="carol")

    async def churn() -> None:  # other writes meanwhile
        for i in range(30):
            await stores[i % 4].update(busy.id, status_message_id=str(i))

    users = [f"user{u}" for u in range(6)]
    burst = [create(stores[i % 4], user) for i in range(12) for user in users]
    *results, _ = await asyncio.gather(*burst, churn(), return_exceptions=True)
    assert all(isinstance(r, str | UserLimitReached) for r in results), results
    rows = await stores[0].read("SELECT user_id, COUNT(*) FROM jobs GROUP BY user_id", {})
    counts = {r[0]: r[1] for r in rows}
    assert counts == {"carol": 1, **{user: 3 for user in users}}
    assert sum(isinstance(r, str) for r in results) == 3 * len(users)
