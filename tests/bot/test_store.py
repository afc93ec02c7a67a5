"""The job store: transitions, files, persistence across reopen, migrations, monitors."""

from __future__ import annotations

import re
import time

import pytest

from bot.jobs.store import MIGRATIONS, InvalidTransition, JobState, JobStore, MonitorCaps
from spotrun.protocol import JOB_ID_PATTERN, AgentResult, Command, InputFile, Usage


async def test_job_lifecycle_persists_across_reopen(store_url: str) -> None:
    db = store_url
    store = await JobStore.open(db)
    csv = InputFile(name="a.csv", content_type="text/csv", data=b"x\n1\n")
    job = await store.create_job(
        command="analyze",
        args={"columns": None},
        user_id="42",
        guild_id="7",
        channel_id="9",
        files=[csv],
        origin_message_id="555",
    )
    assert re.match(JOB_ID_PATTERN, job.id) and len(f"r0{job.id}") <= 25  # id doubles as a nonce base
    assert job.state is JobState.QUEUED
    running = await store.transition(job.id, JobState.RUNNING)
    assert running.started_at is not None and running.attempt == 1
    result = AgentResult(job_id=job.id, command=Command.ANALYZE, text="ok", usage=Usage(duration_ms=5))
    await store.transition(job.id, JobState.SUCCEEDED, result_json=result.model_dump_json(), total_usd=0.5)
    await store.update(job.id, posted_at=123.0, result_message_id="999", status_message_id="888")
    await store.close()
    store = await JobStore.open(db)  # a second open (a second process) migrates nothing again
    assert await store.schema_version() == len(MIGRATIONS)
    await store.close()

    store = await JobStore.open(db)
    again = await store.get(job.id, with_files=True)
    assert again is not None
    assert again.state is JobState.SUCCEEDED and again.finished_at is not None
    assert again.files == [csv]
    assert again.result is not None and again.result.text == "ok"
    assert (again.posted_at, again.result_message_id, again.status_message_id) == (123.0, "999", "888")
    assert again.total_usd == 0.5
    assert await store.schema_version() == len(MIGRATIONS)
    assert [j.id for j in await store.user_jobs("42")] == [job.id]
    await store.close()


async def test_invalid_transitions_are_refused(store_url: str) -> None:
    store = await JobStore.open(store_url)
    job = await store.create_job(command="tts", args={"text": "hi"}, user_id="1")
    with pytest.raises(InvalidTransition):
        await store.transition(job.id, JobState.SUCCEEDED)  # never ran
    await store.transition(job.id, JobState.CANCELLED)
    with pytest.raises(InvalidTransition):
        await store.transition(job.id, JobState.RUNNING)  # cancelled is final
    await store.close()


async def test_unfinished_and_unposted_jobs_are_found_for_resume(store_url: str) -> None:
    store = await JobStore.open(store_url)
    queued = await store.create_job(command="tts", args={"text": "a"}, user_id="1")
    running = await store.create_job(command="tts", args={"text": "b"}, user_id="1")
    await store.transition(running.id, JobState.RUNNING)
    failed = await store.create_job(command="tts", args={"text": "c"}, user_id="1")
    await store.transition(failed.id, JobState.RUNNING)
    await store.transition(failed.id, JobState.FAILED, error_message="down")
    assert [j.id for j in await store.jobs_in(JobState.QUEUED, JobState.RUNNING)] == [queued.id, running.id]
    assert [j.id for j in await store.unposted()] == [failed.id]
    await store.close()


async def test_monitors_and_meta(store_url: str) -> None:
    store = await JobStore.open(store_url)
    mon = await store.add_monitor(
        url="https://e.com",
        interval_s=60,
        user_id="1",
        guild_id="2",
        channel_id="3",
        caps=MonitorCaps(10, 3, 5),
    )
    assert [m.id for m in await store.due_monitors(mon.next_check_at)] == [mon.id]
    await store.update_monitor(mon.id, next_check_at=mon.next_check_at + 60, fingerprint="abc")
    assert await store.due_monitors(mon.next_check_at) == []
    assert (await store.get_monitor(mon.id)).fingerprint == "abc"  # type: ignore[union-attr]
    assert await store.remove_monitor(mon.id) is True
    await store.set_meta("k", "v")
    assert await store.get_meta("k") == "v"
    assert await store.writable()
    await store.close()


async def test_routing_records_expire_and_other_meta_stays(store_url: str) -> None:
    store = await JobStore.open(store_url)
    await store.set_meta("route:old", "{}")
    await store.set_meta("route-origin:1", "{}")
    await store.set_meta("restarts", "3")  # not a routing record: never purged by age
    assert await store.purge_meta("route", time.time() - 60) == 0  # written just now: kept
    assert await store.purge_meta("route", time.time() + 1) == 2
    assert await store.get_meta("route:old") is None and await store.get_meta("route-origin:1") is None
    assert await store.get_meta("restarts") == "3"
    await store.close()


async def test_a_jobs_routing_cost_is_stored_with_it(store_url: str) -> None:
    store = await JobStore.open(store_url)
    job = await store.create_job(command="tts", args={"text": "hi"}, user_id="1", routing_usd=0.0025)
    assert (await store.get(job.id)).routing_usd == 0.0025  # type: ignore[union-attr]
    await store.close()
