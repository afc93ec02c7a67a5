"""Job store benchmark: the pipeline on PostgreSQL vs SQLite (C=1/50/200; 1, 2, 3 processes), and
the store statements one job costs (count, p50 on loopback), measured in the same run."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench._util import Row, pct
from bench.pipeline import FIRST_USER, SERVICE_MS, USERS, bot_process, echo_agent, through_bot, write_registry
from tests.helpers import free_port, wait_http


class _Timed:
    """Wraps a store's Database: counts and times every statement a job causes."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.times: dict[str, list[float]] = defaultdict(list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def _wrap(self, name: str) -> Any:
        async def call(*args: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return await getattr(self._db, name)(*args, **kw)
            finally:
                self.times[name].append(time.perf_counter() - t)

        return call

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        t = time.perf_counter()
        try:
            async with self._db.transaction() as tx:
                yield tx
        finally:
            self.times["transaction"].append(time.perf_counter() - t)

    def __getattribute__(self, name: str) -> Any:
        if name in ("fetch", "fetchone", "execute", "executemany"):
            return object.__getattribute__(self, "_wrap")(name)
        if name == "transaction":
            return object.__getattribute__(self, "_transaction")
        return object.__getattribute__(self, name)


async def store_ops(url: str, jobs: int = 200) -> tuple[float, float, float]:
    """One job's store operations as the engine makes them: (operations per job, p50 ms of one
    operation, p50 ms of one whole job's store work). A transaction (admission, claim, finishing,
    posting) is one operation, timed from BEGIN to COMMIT; renewals and refreshes while a job runs
    are not included (one statement per second per process, for all its jobs together)."""
    from bot.jobs.store import JobState, JobStore

    store = await JobStore.open(url)
    timed = _Timed(store._db)
    store._db = timed  # type: ignore[assignment]
    per_job: list[float] = []
    try:
        for i in range(jobs):
            t = time.perf_counter()
            job = await store.create_job(
                command="tts", args={"text": "x"}, user_id=f"u{i % 20}", agent="audio"
            )
            queue = await store.queue_order(
                frontends=["discord"], agent_of=lambda c: "audio", agent_limits={"audio": 50},
                max_running_per_user=100,
            )  # fmt: skip
            queue.position(job.id)
            await store.update(job.id, status_message_id="1")
            claimed = await store.claim(
                lease_s=10, frontends=["discord"], agent_of=lambda c: "audio", agent_limits={"audio": 50},
                max_running_per_user=100,
            )  # fmt: skip
            assert claimed is not None
            await store.get(job.id, with_files=True)
            await store.renew(10, [job.id])
            await store.transition(
                job.id, JobState.SUCCEEDED, owner=store.owner, result_json="{}", total_usd=0.0
            )
            await store.record_billing(job.id, "audio", 1.0)
            await store.claim_post(job.id, 60)
            await store.posted(job.id, "2")
            per_job.append(time.perf_counter() - t)
    finally:
        await store.close()
    ops = [x for ts in timed.times.values() for x in ts]
    return len(ops) / jobs, pct(ops, 0.5) * 1000, pct(per_job, 0.5) * 1000


async def run(levels: tuple[int, ...] = (1, 50, 200), processes: tuple[int, ...] = (1, 2, 3)) -> list[Row]:
    import psutil

    from tests.fakes.discord import DiscordEmulator
    from tests.postgres import PostgresServer, start_postgres

    server = start_postgres()
    if not isinstance(server, PostgresServer):
        print(f"[store] skipped: {server}", file=sys.stderr)
        return []
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_ops = await store_ops(str(Path(tmp) / "ops.db"))
            pg_ops = await store_ops(server.new_database())
            rows += [
                Row("store", "store operations per job (PostgreSQL)", pg_ops[0], "ops", "SQLite",
                    pg_ops[0] / sqlite_ops[0]),
                Row("store", "one store operation p50 (PostgreSQL)", pg_ops[1], "ms", "SQLite",
                    pg_ops[1] / sqlite_ops[1], f"SQLite {sqlite_ops[1]:.3f} ms"),
                Row("store", "a job's store work p50 (PostgreSQL)", pg_ops[2], "ms", "SQLite",
                    pg_ops[2] / sqlite_ops[2], f"SQLite {sqlite_ops[2]:.2f} ms"),
            ]  # fmt: skip
            with echo_agent(SERVICE_MS) as (agent, url):
                await wait_http(f"{url}/health", proc=agent)
                registry = write_registry(Path(tmp) / "agents.yaml", url)
                measured: dict[tuple[str, int, int], tuple[float, float]] = {}
                plan = [("sqlite", 1, c) for c in levels] + [("postgresql", 1, c) for c in levels]
                burst = 50 if 50 in levels else levels[-1]  # the level the 2- and 3-process runs use
                plan += [("postgresql", n, burst) for n in processes if n > 1]
                for backend, n, c in plan:
                    with DiscordEmulator(token="bench-token") as emu:  # noqa: S106 - a fake server's token
                        for u in range(USERS):
                            emu.add_user(FIRST_USER + u, f"user{u}")
                        work = Path(tmp) / f"{backend}-{n}-{c}"
                        work.mkdir()
                        db = f"sqlite:///{work / 'bot.db'}" if backend == "sqlite" else server.new_database()
                        with contextlib.ExitStack() as stack:
                            procs = []
                            for i in range(n):
                                extra = {"SPOTRUN_DATABASE_URL": db, "SPOTRUN_OPS_PORT": str(free_port())}
                                if i:
                                    extra["SPOTRUN_GATEWAY"] = "false"
                                procs.append(stack.enter_context(bot_process(emu, work, registry, **extra)))
                            await emu.wait_for_ready(timeout=60)
                            await asyncio.sleep(1 if n > 1 else 0)  # workers logged in
                            bot = psutil.Process(procs[0].pid)
                            await through_bot(emu, bot, 5, 1)  # warm-up
                            rounds = 20 if c == 1 else max(2, 400 // c)
                            lat, wall, _ = await through_bot(emu, bot, c, rounds)
                            added = [x - SERVICE_MS / 1000 for x in lat]
                            measured[(backend, n, c)] = (pct(added, 0.5), len(lat) / wall)
                            print(
                                f"[store] {backend} processes={n} C={c}: {len(lat)} in {wall:.1f}s",
                                file=sys.stderr,
                            )
                for c in levels:
                    (s50, scps), (p50, pcps) = measured[("sqlite", 1, c)], measured[("postgresql", 1, c)]
                    rows += [
                        Row("store", f"C={c} added latency p50, PostgreSQL", p50 * 1000, "ms", "SQLite",
                            p50 / s50 if s50 > 0 else None,
                            f"SQLite {s50 * 1000:.1f} ms; difference {(p50 - s50) * 1000:+.1f} ms"),
                        Row("store", f"C={c} throughput, PostgreSQL", pcps, "cmd/s", "SQLite", pcps / scps,
                            f"SQLite {scps:.0f}/s"),
                    ]  # fmt: skip
                one = measured[("postgresql", 1, burst)][1]
                for n in processes:
                    if n > 1:
                        cps = measured[("postgresql", n, burst)][1]
                        rows.append(
                            Row("store", f"C={burst} throughput, {n} processes on PostgreSQL", cps, "cmd/s",
                                "1 process", cps / one)
                        )  # fmt: skip
    finally:
        server.stop("immediate")
    return rows


if __name__ == "__main__":
    from bench._util import metadata_server, render_table

    metadata_server()
    print(render_table(asyncio.run(run((1, 20), (1, 2)))))
