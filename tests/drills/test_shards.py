"""Drill: shards across `spotrun bot` processes on one PostgreSQL and the Discord emulator, killed
with real signals. Active/standby: SIGKILL the active holding 20 jobs and the standby is READY
within 10 s, every result posted once; SIGTERM it and the shard is handed over before it exits
with no gap in gateway presence over 2 s and no command handled twice. Three processes × six
shards (six guilds, one per shard): every guild is answered; kill one and its shards move within
10 s; restart it and they come back without a presence gap; 0 lost, 0 duplicates."""

from __future__ import annotations

import asyncio
import collections
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.pipeline import write_registry
from tests.bot.bot_process import BotProcess
from tests.drills.test_many_processes import CountingAgent, results
from tests.fakes.discord import DiscordEmulator
from tests.helpers import free_port, serve
from tests.postgres import PostgresServer

pytestmark = pytest.mark.timeout(300)

FIRST_USER = 8001
MAX_CONCURRENCY = 4
TAKEOVER_BOUND_S = 10.0  # the bound; the lease (5 s) plus a tick plus one IDENTIFY fit in it


@pytest.fixture
async def agent() -> AsyncIterator[tuple[CountingAgent, str]]:
    counting = CountingAgent(service_s=1.0)  # 20 jobs, 4 at a time: ~5 s of work to kill into
    async with serve(counting.app()) as url:
        yield counting, url


async def metric(bot: BotProcess, name: str) -> float:
    """One sample of the process's /metrics, as Prometheus would scrape it."""
    import aiohttp

    url = f"http://127.0.0.1:{bot.env['SPOTRUN_OPS_PORT']}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def psql(url: str, query: str) -> list[list[str]]:
    out = subprocess.run(
        ["psql", url, "-AtF|", "-c", query], check=True, capture_output=True, text=True
    ).stdout
    return [line.split("|") for line in out.splitlines() if line]


def jobs_by_origin(url: str) -> dict[str, list[tuple[str, bool]]]:
    """origin message id -> [(state, posted)] of the jobs stored for it (two: handled twice)."""
    out: dict[str, list[tuple[str, bool]]] = collections.defaultdict(list)
    for origin, state, posted in psql(url, "SELECT origin_message_id, state, posted_at FROM jobs"):
        out[origin].append((state, bool(posted)))
    return dict(out)


async def start_processes(
    n: int, tmp_path: Path, emu: DiscordEmulator, postgres: PostgresServer, url: str,
    processes: list[BotProcess], **extra: str,
) -> str:  # fmt: skip
    """n processes as StatefulSet pods spotrun-bot-0..n-1 (SPOTRUN_REPLICAS=n), started in order."""
    for u in range(60):
        emu.add_user(FIRST_USER + u, f"user{u}")
    database = postgres.new_database()
    registry = write_registry(tmp_path / "agents.yaml", url, max_concurrency=MAX_CONCURRENCY, timeout_s=60)
    for i in range(n):
        workdir = tmp_path / f"p{i}"
        workdir.mkdir()
        env = {
            "SPOTRUN_DATABASE_URL": database,
            "SPOTRUN_POD_NAME": f"spotrun-bot-{i}",
            "SPOTRUN_REPLICAS": str(n),
            "SPOTRUN_ZONE": f"zone-{'abc'[i % 3]}",
            "SPOTRUN_JOB_LEASE_S": "3",
            "SPOTRUN_JOB_POLL_S": "0.2",
            "SPOTRUN_MAX_RUNNING_PER_USER": "2",
            "SPOTRUN_MAX_QUEUED_PER_USER": "5",
            "SPOTRUN_OPS_PORT": str(free_port()),
            **extra,
        }
        bot = BotProcess(workdir, emu, registry, **env)
        processes.append(bot)
        await started(bot)
    return database


async def started(bot: BotProcess) -> None:
    """Spawn and wait until the process has planned its shards (a standby never IDENTIFYs)."""
    bot.spawn()
    assert bot.proc is not None
    deadline = time.monotonic() + 30
    while not any(e.get("message") == "shards planned" for e in bot.events(bot.starts)):
        assert bot.proc.poll() is None, bot.logs(bot.starts)
        assert time.monotonic() < deadline, "the bot did not start within 30 s"
        await asyncio.sleep(0.05)


async def wait_sessions(emu: DiscordEmulator, shards: range | list[int], timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not all(emu.sessions_on(s) == 1 for s in shards):
        state = {s: emu.sessions_on(s) for s in shards}
        assert time.monotonic() < deadline, f"sessions per shard after {timeout}s: {state}"
        await asyncio.sleep(0.05)


async def wait_jobs_done(url: str, origins: list[int], timeout: float) -> dict[str, list[tuple[str, bool]]]:  # noqa: ASYNC109
    """Every origin has a succeeded, posted job; returns the jobs by origin."""
    deadline = time.monotonic() + timeout
    while True:
        by_origin = await asyncio.to_thread(jobs_by_origin, url)
        pending = [
            o for o in origins if not any(s == "succeeded" and p for s, p in by_origin.get(str(o), []))
        ]
        if not pending:
            return by_origin
        assert time.monotonic() < deadline, f"{len(pending)} of {len(origins)} commands not done and posted"
        await asyncio.sleep(0.2)


def exactly_once(
    emu: DiscordEmulator, by_origin: dict[str, list[tuple[str, bool]]], origins: list[int]
) -> None:
    posted = results(emu)
    twice = [o for o in origins if len(by_origin.get(str(o), [])) != 1 or posted.get(o) != 1]
    assert not twice, (
        f"handled or posted other than once: {[(o, by_origin.get(str(o)), posted.get(o)) for o in twice]}"
    )


def handled_elsewhere(bots: list[BotProcess]) -> int:
    """Commands a process saw but left to another that claimed them first (hand-over overlap)."""
    return sum(
        1 for b in bots for n in range(1, b.starts + 1) for e in b.events(n)
        if e.get("message") == "event handled by another process"
    )  # fmt: skip


async def test_sigkill_the_active_and_the_standby_takes_over_with_20_jobs_in_flight(
    tmp_path: Path, emu: DiscordEmulator, postgres: PostgresServer, agent: tuple[CountingAgent, str],
    processes: list[BotProcess],
) -> None:  # fmt: skip
    counting, url = agent
    database = await start_processes(2, tmp_path, emu, postgres, url, processes)
    active, standby = processes
    await wait_sessions(emu, [0], timeout=30)
    assert emu.identifies_on(0) == 1, "one IDENTIFY: the standby keeps no session"
    owned = 'spotrun_shard_owned{shard="0"}'
    await asyncio.sleep(1.5)  # a keeper tick: gauges follow the leases
    assert (await metric(active, owned), await metric(active, "spotrun_process_standby")) == (1, 0)
    assert (await metric(standby, owned), await metric(standby, "spotrun_process_standby")) == (0, 1)
    assert await metric(standby, "spotrun_shard_count") == 1
    origins = [emu.user_says(FIRST_USER + i, f"!tts job {i}") for i in range(20)]
    deadline = time.monotonic() + 20
    while len(await asyncio.to_thread(jobs_by_origin, database)) < 20:  # all 20 stored, then kill
        assert time.monotonic() < deadline, "the active did not store the 20 commands"
        await asyncio.sleep(0.05)
    running = sum(1 for v in jobs_by_origin(database).values() for s, _ in v if s == "running")
    assert active.proc is not None
    active.proc.kill()
    killed_at = time.monotonic()
    active.proc.wait()
    while not (emu.identifies_on(0) == 2 and emu.sessions_on(0) == 1):
        assert time.monotonic() < killed_at + 30, "the standby never took the shard over"
        await asyncio.sleep(0.02)
    takeover_s = time.monotonic() - killed_at
    assert await metric(standby, owned) == 1  # the alert's sum(spotrun_shard_owned) is whole again
    by_origin = await wait_jobs_done(database, origins, timeout=60)
    late = emu.user_says(FIRST_USER + 30, "!tts job after")  # the former standby answers now
    by_origin = await wait_jobs_done(database, [*origins, late], timeout=30)
    await asyncio.sleep(1)  # a duplicate would land now
    exactly_once(emu, await asyncio.to_thread(jobs_by_origin, database), [*origins, late])
    print(
        f"\n[active/standby SIGKILL] standby READY {takeover_s:.2f}s after the kill (shard lease 5 s); "
        f"{running} of 20 jobs were running, the rest queued; all 20 posted once; agent calls per key "
        f"{sorted(collections.Counter(counting.keys.values()).items())}"
    )
    assert takeover_s <= TAKEOVER_BOUND_S
    assert counting.peak <= MAX_CONCURRENCY
    assert standby.proc is not None and standby.proc.poll() is None
    assert len(by_origin) == 21


async def test_sigterm_hands_the_shard_over_before_exit_without_a_presence_gap(
    tmp_path: Path, emu: DiscordEmulator, postgres: PostgresServer, agent: tuple[CountingAgent, str],
    processes: list[BotProcess],
) -> None:  # fmt: skip
    counting, url = agent
    counting.service_s = 0.1
    database = await start_processes(2, tmp_path, emu, postgres, url, processes)
    active, standby = processes
    await wait_sessions(emu, [0], timeout=30)
    # Commands keep coming across the hand-over: ten a second, each from its own user.
    origins: list[int] = []

    async def traffic(seconds: float) -> None:
        for i in range(int(seconds * 10)):
            origins.append(emu.user_says(FIRST_USER + i % 50, f"!tts job {i}"))
            await asyncio.sleep(0.1)

    async def burst_when_both_connected() -> int:
        """Ten commands the moment the new session is READY and the old not yet closed: both
        processes receive them, and without the claim in the store both would run them."""
        while emu.sessions_on(0) < 2:  # noqa: ASYNC110 - the emulator's state, polled from its thread
            await asyncio.sleep(0.002)
        burst = [emu.user_says(FIRST_USER + 50 + i, f"!tts overlap {i}") for i in range(10)]
        origins.extend(burst)
        return emu.sessions_on(0)

    sender = asyncio.create_task(traffic(5.0))
    burster = asyncio.create_task(burst_when_both_connected())
    await asyncio.sleep(1.0)
    signalled = time.monotonic()
    exit_s = await active.sigterm()  # asserts a clean exit (rc 0, no traceback)
    await sender
    sessions_at_burst = await asyncio.wait_for(burster, 5)
    gap = emu.presence_gap(0, since=signalled)
    overlap = emu.overlap_s(0, since=signalled)
    handed = [e for e in active.events(1) if e.get("message") == "shards handed over"]
    by_origin = await wait_jobs_done(database, origins, timeout=60)
    await asyncio.sleep(1)
    exactly_once(emu, await asyncio.to_thread(jobs_by_origin, database), origins)
    print(
        f"\n[active/standby SIGTERM] hand-over took {handed[0]['took_s'] if handed else '?'}s, the old "
        f"process exited {exit_s:.2f}s after SIGTERM; presence gap {gap:.2f}s; two READY sessions for "
        f"{overlap:.2f}s; {len(origins)} commands across it ({sessions_at_burst} sessions got the last 10), "
        f"each handled once ({handled_elsewhere(processes)} seen by both and claimed by one)"
    )
    assert handed and handed[0]["handed"] == [0], active.logs(1)
    assert gap <= 2.0
    assert emu.identifies_on(0) == 2 and emu.sessions_on(0) == 1
    assert standby.proc is not None and standby.proc.poll() is None
    assert len(by_origin) == len(origins)


async def test_three_processes_six_shards_and_one_dies(
    tmp_path: Path, emu: DiscordEmulator, postgres: PostgresServer, agent: tuple[CountingAgent, str],
    processes: list[BotProcess],
) -> None:  # fmt: skip
    counting, url = agent
    counting.service_s = 0.1
    emu.shard_count = 6
    # Two IDENTIFY buckets: a dead process's two shards (s, s+3) land in different buckets and
    # reconnect together; with one bucket the second waits Discord's 5 s after the first.
    emu.max_concurrency = 2
    channels = {0: emu.channel_id}  # the first guild (id 2000) is on shard 0
    assert (emu.guild_id >> 22) % 6 == 0
    for shard in range(1, 6):
        channels[shard] = emu.add_guild(DiscordEmulator.guild_id_on_shard(shard, 6), 3100 + shard)
    started_at = time.monotonic()
    database = await start_processes(3, tmp_path, emu, postgres, url, processes)
    await wait_sessions(emu, range(6), timeout=60)
    startup_s = time.monotonic() - started_at

    def round_of(tag: str, users: int) -> list[int]:
        return [
            emu.user_says(FIRST_USER + users + shard * 3 + k, f"!tts {tag} {shard}.{k}", channel_id=channel)
            for shard, channel in channels.items()
            for k in range(3)
        ]

    first = round_of("before", 0)
    await wait_jobs_done(database, first, timeout=60)
    victim = processes[1]  # spotrun-bot-1 prefers shards 1 and 4
    assert victim.proc is not None
    mine = f"SELECT shard_id FROM shard_leases WHERE owner LIKE '%:{victim.proc.pid}:%' ORDER BY shard_id"  # noqa: S608
    held = [int(row[0]) for row in psql(database, mine)]
    assert held == [1, 4], held
    victim.proc.kill()
    killed_at = time.monotonic()
    victim.proc.wait()
    while not all(emu.identifies_on(s) == 2 and emu.sessions_on(s) == 1 for s in held):
        assert time.monotonic() < killed_at + 30, {
            s: (emu.identifies_on(s), emu.sessions_on(s)) for s in held
        }
        await asyncio.sleep(0.02)
    moved_s = time.monotonic() - killed_at
    second = round_of("after", 20)
    await wait_jobs_done(database, first + second, timeout=60)
    assert all(emu.max_sessions_on(s) == 1 for s in range(6)), "never two sessions on a shard"
    assert all(emu.identifies_on(s) == (2 if s in held else 1) for s in range(6))

    # The kubelet restarts spotrun-bot-1: the survivors give its shards back, each session
    # closing only once the returning pod's is READY.
    back_at = time.monotonic()
    await started(victim)
    while not all(emu.identifies_on(s) == 3 and emu.sessions_on(s) == 1 for s in held):
        assert time.monotonic() < back_at + 60, {s: (emu.identifies_on(s), emu.sessions_on(s)) for s in held}
        await asyncio.sleep(0.05)
    returned_s = time.monotonic() - back_at
    mine = f"SELECT shard_id FROM shard_leases WHERE owner LIKE '%:{victim.proc.pid}:%' ORDER BY shard_id"  # noqa: S608
    assert [int(row[0]) for row in psql(database, mine)] == held
    gaps = [emu.presence_gap(s, since=back_at) for s in held]
    third = round_of("back", 40)
    await wait_jobs_done(database, first + second + third, timeout=60)
    await asyncio.sleep(1)
    exactly_once(emu, await asyncio.to_thread(jobs_by_origin, database), first + second + third)
    print(
        f"\n[3 processes x 6 shards] all 6 shards READY {startup_s:.1f}s after the first start "
        f"(IDENTIFY every 5 s per bucket, 2 buckets); {len(first)} commands in 6 guilds answered; "
        f"killed spotrun-bot-1 (shards {held}): they were READY elsewhere {moved_s:.2f}s later; "
        f"{len(second)} more answered; restarted, it had them back {returned_s:.1f}s after its start "
        f"(presence gaps {[round(g, 2) for g in gaps]} s); {len(third)} more answered; 0 lost, 0 duplicates"
    )
    assert moved_s <= TAKEOVER_BOUND_S
    assert max(gaps) == 0.0, "a shard given back is never without a session"
    assert all(emu.sessions_on(s) == 1 for s in range(6))
