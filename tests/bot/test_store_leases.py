"""Leases in the job store: any process claims any job, in fair order, under per-agent and per-user
limits counted across processes; a lapsed lease is taken over with the same id; a result is posted
by one process; a run-once duty has one holder. Two stores on one database stand for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from bot.jobs.store import InvalidTransition, Job, JobState, JobStore
from spotrun.protocol import InputFile

AGENTS = {"tts": "audio", "transcribe": "audio", "scrape": "web"}

Opener = Callable[[], Awaitable[JobStore]]


@pytest.fixture
async def open_store(store_url: str) -> AsyncIterator[Opener]:
    async with AsyncExitStack() as stack:

        async def opener() -> JobStore:
            store = await JobStore.open(store_url)
            stack.push_async_callback(store.close)
            return store

        yield opener


async def claim(
    store: JobStore, *, audio: int = 1, web: int = 1, per_user: int = 5, lease_s: float = 30
) -> Job | None:
    return await store.claim(
        lease_s=lease_s,
        frontends=["discord"],
        agent_of=AGENTS.__getitem__,
        agent_limits={"audio": audio, "web": web},
        max_running_per_user=per_user,
    )


async def add(store: JobStore, user: str, command: str = "tts", files: list[InputFile] | None = None) -> str:
    job = await store.create_job(
        command=command, args={}, user_id=user, agent=AGENTS[command], files=files or []
    )
    return job.id


async def test_agent_concurrency_holds_across_processes(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    for u in range(6):
        await add(a, f"u{u}")
    await add(b, "u9", "scrape")
    # Both processes claim as fast as they can: only two audio jobs may run at once in total.
    claimed = await asyncio.gather(*(claim(s, audio=2) for s in (a, b, a, b, a, b)))
    got = [j for j in claimed if j is not None]
    assert sorted(j.command for j in got) == ["scrape", "tts", "tts"]
    assert {j.lease_owner for j in got} <= {a.owner, b.owner}
    assert await claim(a, audio=2) is None and await claim(b, audio=2) is None
    done = next(j for j in got if j.command == "tts")
    owner = a if done.lease_owner == a.owner else b
    await owner.transition(done.id, JobState.SUCCEEDED, owner=owner.owner)
    assert (await claim(b, audio=2)) is not None  # a slot freed anywhere is a slot for everyone


async def test_users_take_turns_and_each_user_is_fifo(open_store: Opener) -> None:
    store = await open_store()
    alice = [await add(store, "alice") for _ in range(3)]
    bob = [await add(store, "bob") for _ in range(2)]
    carol = await add(store, "carol")
    order = []
    for _ in range(6):
        job = await claim(store)
        assert job is not None
        order.append(job.id)
        await store.transition(job.id, JobState.SUCCEEDED, owner=store.owner)
    assert order == [alice[0], bob[0], carol, alice[1], bob[1], alice[2]]


async def test_positions_come_from_the_store_and_match_the_claim_order(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    ids = [await add(a, "alice"), await add(b, "alice"), await add(b, "bob"), await add(a, "carol", "scrape")]
    for store in (a, b):  # every process sees the same positions
        queue = await store.queue_order(
            frontends=["discord"], agent_of=AGENTS.__getitem__, agent_limits={"audio": 1, "web": 1},
            max_running_per_user=5,
        )  # fmt: skip
        assert [queue.position(i) for i in ids] == [1, 3, 2, 1]  # per agent: alice, bob, alice


async def test_per_user_running_limit_holds_across_processes(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    for _ in range(3):
        await add(a, "alice")
    await add(b, "bob")
    got = [await claim(s, audio=10, per_user=1) for s in (a, b, a, b)]
    assert sorted(j.user_id for j in got if j is not None) == ["alice", "bob"]


async def test_a_lapsed_lease_is_taken_over_with_the_same_id(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    job_id = await add(a, "alice")
    first = await claim(a, lease_s=0.3)
    assert first is not None and first.id == job_id and first.attempt == 1
    assert await claim(b, lease_s=0.3) is None  # held: nobody else may run it (agent limit 1 too)
    assert job_id in await a.renew(0.3, [job_id])  # the holder renews while it runs...
    await asyncio.sleep(0.5)  # ...then dies: its lease lapses
    taken = await claim(b)
    assert taken is not None and taken.id == job_id  # the id is the agent's idempotency key
    assert taken.attempt == 2 and taken.lease_owner == b.owner
    assert await a.renew(30, [job_id]) == {}  # the old holder learns it lost the job
    assert await a.taken_over([job_id]) == [job_id]
    with pytest.raises(InvalidTransition):  # and cannot finish it any more
        await a.transition(job_id, JobState.SUCCEEDED, owner=a.owner)
    await b.transition(job_id, JobState.SUCCEEDED, owner=b.owner)
    assert await b.taken_over([job_id]) == []


async def test_release_hands_running_jobs_back_at_once(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    job_id = await add(a, "alice")
    assert await claim(a) is not None
    assert await a.release() == 1  # shutdown
    taken = await claim(b)
    assert taken is not None and taken.id == job_id and taken.attempt == 2


async def test_a_cancel_asked_anywhere_reaches_the_holder(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    job_id = await add(a, "alice")
    assert await claim(a) is not None
    assert await a.renew(30, [job_id]) == {job_id: None}
    assert await b.request_cancel(job_id, "bob")
    assert await a.renew(30, [job_id]) == {job_id: "bob"}


async def test_a_result_is_posted_by_one_process_and_its_inputs_dropped(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    job_id = await add(a, "alice", files=[InputFile(name="a.csv", content_type="text/csv", data=b"x" * 100)])
    assert await a.input_bytes() == 100
    assert await claim(a) is not None
    await a.transition(job_id, JobState.SUCCEEDED, owner=a.owner)
    won = await asyncio.gather(a.claim_post(job_id, 60), b.claim_post(job_id, 60))
    assert sorted(won) == [False, True]
    poster = a if won[0] else b
    other = b if won[0] else a
    assert await other.unposted() == []  # claimed: nobody else picks it up
    await poster.posted(job_id, "m1")
    job = await other.get(job_id, with_files=True)
    assert job is not None and job.result_message_id == "m1" and job.posted_at is not None
    assert job.files == [] and await a.input_bytes() == 0
    assert not await other.claim_post(job_id, 60)  # posted: never again


async def test_a_dead_posters_claim_lapses_and_another_posts(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    job_id = await add(a, "alice")
    assert await claim(a) is not None
    await a.transition(job_id, JobState.FAILED, owner=a.owner, error_message="x")
    assert await a.claim_post(job_id, 0.2)
    assert not await b.claim_post(job_id, 0.2)
    await asyncio.sleep(0.3)
    assert [j.id for j in await b.unposted()] == [job_id]
    assert await b.claim_post(job_id, 60)


async def test_a_duty_has_one_holder_and_moves_when_it_lapses(open_store: Opener) -> None:
    a, b = await open_store(), await open_store()
    assert await a.hold_duty("monitor-scheduler", 0.3)
    assert not await b.hold_duty("monitor-scheduler", 0.3)
    assert await a.hold_duty("monitor-scheduler", 0.3)  # renewing is holding
    await asyncio.sleep(0.4)
    assert await b.hold_duty("monitor-scheduler", 30)
    assert not await a.hold_duty("monitor-scheduler", 30)
    await b.drop_duties()  # a clean shutdown hands it over at once
    assert await a.hold_duty("monitor-scheduler", 30)


async def test_cancelled_jobs_drop_their_inputs(open_store: Opener) -> None:
    store = await open_store()
    job_id = await add(store, "alice", files=[InputFile(name="a", content_type="text/plain", data=b"abc")])
    await store.transition(job_id, JobState.CANCELLED)
    assert await store.input_bytes() == 0


async def test_retention_drops_old_inputs_only(open_store: Opener) -> None:
    store = await open_store()
    data = [InputFile(name="a", content_type="text/plain", data=b"abcd")]
    old, fresh, queued = [await add(store, "alice", files=data) for _ in range(3)]
    for job_id, finished_at in ((old, 100.0), (fresh, 10_000.0)):
        assert await claim(store, audio=5) is not None
        await store.transition(job_id, JobState.FAILED, owner=store.owner, finished_at=finished_at)
    assert await store.purge_inputs(finished_before=5_000.0) == 1
    assert [len((await store.get(j, with_files=True)).files) for j in (old, fresh, queued)] == [0, 1, 1]  # type: ignore[union-attr]
