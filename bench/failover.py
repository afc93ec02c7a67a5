"""Failover benchmark: an active and a standby `spotrun bot` on one PostgreSQL and the Discord
emulator; the take-over time after SIGKILL and SIGTERM of the active, the gateway presence gap,
and each process's RSS."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._util import Row, median
from bench.pipeline import SERVICE_MS, bot_process, echo_agent, write_registry
from tests.helpers import free_port, wait_http

LEASE_S = 5.0  # the default SPOTRUN_SHARD_LEASE_S


def _count(url: str, query: str) -> int:
    out = subprocess.run(["psql", url, "-At", "-c", query], check=True, capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


async def _pair(
    emu: object, work: Path, registry: Path, database: str, stack: contextlib.ExitStack
) -> list[subprocess.Popen[bytes]]:
    """pod-0 (active) then pod-1 (standby), both up: one READY session, two rows in the process table."""
    procs = []
    for i in range(2):
        env = {
            "SPOTRUN_DATABASE_URL": database,
            "SPOTRUN_POD_NAME": f"spotrun-bot-{i}",
            "SPOTRUN_REPLICAS": "2",
            "SPOTRUN_OPS_PORT": str(free_port()),
        }
        procs.append(stack.enter_context(bot_process(emu, work / f"p{i}", registry, **env)))
        if i == 0:
            await emu.wait_for_ready(timeout=60)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while await asyncio.to_thread(_count, database, "SELECT COUNT(*) FROM processes") < 2:
        assert time.monotonic() < deadline, "the standby did not come up"
        await asyncio.sleep(0.1)
    return procs


async def _one(
    server: object, tmp: Path, registry: Path, how: signal.Signals, n: int
) -> tuple[float, float, float, float]:
    """(take-over s, presence gap s, active RSS MiB, standby RSS MiB) for one kill."""
    import psutil

    from tests.fakes.discord import DiscordEmulator

    work = tmp / f"{how.name}-{n}"
    for i in range(2):
        (work / f"p{i}").mkdir(parents=True)
    with DiscordEmulator(token="bench-token") as emu, contextlib.ExitStack() as stack:  # noqa: S106
        database = server.new_database()  # type: ignore[attr-defined]
        active, standby = await _pair(emu, work, registry, database, stack)
        # Discord allows one IDENTIFY per 5 s per bucket: signal once the active's is 5 s old, so
        # the rows measure the take-over, not the pacing after a start moments ago.
        await asyncio.sleep(5.5)
        rss = [psutil.Process(p.pid).memory_info().rss / 2**20 for p in (active, standby)]
        killed = time.monotonic()
        active.send_signal(how)
        while not (emu.identifies_on(0) == 2 and emu.sessions_on(0) >= 1):
            assert time.monotonic() < killed + 30, "no take-over within 30 s"
            await asyncio.sleep(0.01)
        took = time.monotonic() - killed
        await asyncio.to_thread(active.wait, 20)
        gap = emu.presence_gap(0, since=killed)
    return took, gap, rss[0], rss[1]


async def run(repeats: int = 3) -> list[Row]:
    from tests.postgres import PostgresServer, start_postgres

    server = start_postgres()
    if not isinstance(server, PostgresServer):
        print(f"[failover] skipped: {server}", file=sys.stderr)
        return []
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, echo_agent(SERVICE_MS) as (agent, url):
            await wait_http(f"{url}/health", proc=agent)
            registry = write_registry(Path(tmp) / "agents.yaml", url)
            results = {}
            for how in (signal.SIGKILL, signal.SIGTERM):
                results[how] = [await _one(server, Path(tmp), registry, how, n) for n in range(repeats)]
                print(f"[failover] {how.name}: {[round(r[0], 2) for r in results[how]]} s", file=sys.stderr)
            kill, term = results[signal.SIGKILL], results[signal.SIGTERM]
            rows += [
                Row("failover", "take-over after SIGKILL (standby READY)", median([r[0] for r in kill]), "s",
                    note=f"shard lease {LEASE_S:.0f} s; max {max(r[0] for r in kill):.2f} s of {repeats}"),
                Row("failover", "hand-over after SIGTERM (standby READY)", median([r[0] for r in term]), "s",
                    note=f"max {max(r[0] for r in term):.2f} s of {repeats}"),
                Row("failover", "gateway presence gap, SIGTERM", max(r[1] for r in term), "s",
                    note="worst of the runs; the old session closes once the new one is READY"),
                Row("failover", "gateway presence gap, SIGKILL", median([r[1] for r in kill]), "s",
                    note="= the take-over: nobody renews the dead holder's lease"),
                Row("failover", "bot RSS, active process", median([r[2] for r in kill + term]), "MiB"),
                Row("failover", "bot RSS, standby process", median([r[3] for r in kill + term]), "MiB",
                    "active", median([r[3] for r in kill + term]) / median([r[2] for r in kill + term])),
            ]  # fmt: skip
    finally:
        server.stop("immediate")
    return rows


if __name__ == "__main__":
    from bench._util import metadata_server, render_table

    metadata_server()
    os.environ.setdefault("MPLCONFIGDIR", "/tmp/spotrun-mpl")
    print(render_table(asyncio.run(run(1))))
