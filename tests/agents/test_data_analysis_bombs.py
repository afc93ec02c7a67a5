"""Resource bombs against the real data-analysis agent process: refused, limit named, memory bounded.

Each bomb is a small upload that decodes into gigabytes or recurses thousands of levels. The agent
runs as `python -m agents.data_analysis` with its default caps; its peak RSS (VmHWM) is read from
/proc before and after, and /health is polled throughout. Figures go to docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import polars as pl
import pytest

from tests.helpers import agent_process, wait_http

pytestmark = pytest.mark.slow

# Growth of the agent's peak RSS a refused bomb may cause: the request body (base64 + decoded copy)
# and the footer/bracket scan. Before the caps the Parquet bomb alone grew it by ~1.6 GB.
ONE_BOMB_BUDGET_MB = 120
N_BOMBS = 6
N_BOMBS_BUDGET_MB = 250


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def parquet_bomb() -> bytes:
    """2,000,000 rows × 100 Int64 columns of zeros: ~0.4 MB on disk, 1.6 GB decoded."""
    frame = pl.select(pl.repeat(0, 2_000_000, dtype=pl.Int64).alias("c0"))
    frame = frame.with_columns([pl.col("c0").alias(f"c{i}") for i in range(1, 100)])
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def deep_json(depth: int) -> bytes:
    """[{"a": {"a": … 1 …}}] — one record nested `depth` levels."""
    return b"[" + b'{"a":' * depth + b"1" + b"}" * depth + b"]"


def deep_ndjson(depth: int) -> bytes:
    return b'{"k": 1}\n' + b'{"a":' * depth + b"1" + b"}" * depth + b"\n"


BOMBS: dict[str, tuple[str, bytes]] = {}


def bomb(kind: str) -> tuple[str, bytes]:
    if kind not in BOMBS:
        BOMBS[kind] = {
            "parquet": lambda: ("zeros.parquet", parquet_bomb()),
            "json600": lambda: ("deep.json", deep_json(600)),
            "ndjson600": lambda: ("deep.jsonl", deep_ndjson(600)),
            "json100k": lambda: ("deeper.json", deep_json(100_000)),
        }[kind]()
    return BOMBS[kind]


async def post(
    session: aiohttp.ClientSession, base: str, job: str, name: str, data: bytes
) -> tuple[int, Any]:
    body = {
        "job_id": job,
        "command": "analyze",
        "args": {},
        "files": [{"name": name, "data": base64.b64encode(data).decode()}],
        "context": {"user_id": "1"},
    }
    async with session.post(f"{base}/v1/analyze", json=body) as resp:
        return resp.status, await resp.json()


async def watch_health(base: str, stop: asyncio.Event) -> float:
    """Poll /health every 100 ms until `stop`; the slowest answer in seconds."""
    worst = 0.0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            started = time.monotonic()
            async with session.get(f"{base}/health", timeout=aiohttp.ClientTimeout(total=10)) as resp:
                assert resp.status == 200
            worst = max(worst, time.monotonic() - started)
            await asyncio.sleep(0.1)
    return worst


async def warm(session: aiohttp.ClientSession, base: str) -> None:
    """One ordinary job first, so polars and numpy are imported before the baseline is read."""
    status, body = await post(session, base, "warm", "a.csv", b"a,b\n1,x\n2,y\n")
    assert status == 200, body


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("parquet", "the limit is 512 MiB"),
        ("json600", "601 levels deep; the limit is 20"),
        ("ndjson600", "600 levels deep; the limit is 20"),
        ("json100k", "100,001 levels deep; the limit is 20"),
    ],
)
async def test_bomb_refused_with_limit_at_bounded_memory(kind: str, phrase: str) -> None:
    name, data = bomb(kind)
    with agent_process("agents.data_analysis") as (proc, base):
        await wait_http(f"{base}/health", timeout_s=30, proc=proc)
        stop = asyncio.Event()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as session:
            await warm(session, base)
            before = peak_rss_mb(proc.pid)
            health = asyncio.create_task(watch_health(base, stop))
            started = time.monotonic()
            status, body = await post(session, base, f"bomb-{kind}", name, data)
            took = time.monotonic() - started
            stop.set()
            worst_health = await health
        grown = peak_rss_mb(proc.pid) - before
        assert proc.poll() is None, "the agent died"
    print(
        f"{kind}: {len(data):,} bytes → {status} in {took:.2f}s, peak RSS +{grown:.0f} MB, "
        f"/health worst {worst_health * 1000:.0f} ms"
    )
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large" and not body["error"]["retryable"]
    assert phrase in body["error"]["message"]
    assert grown < ONE_BOMB_BUDGET_MB, f"peak RSS grew {grown:.0f} MB"
    assert took < 5, f"refusal took {took:.1f}s"
    assert worst_health < 1.0


async def test_many_bombs_at_once_agent_survives_and_health_answers() -> None:
    kinds = ["parquet", "json600", "ndjson600", "json100k", "parquet", "json600"][:N_BOMBS]
    with agent_process("agents.data_analysis") as (proc, base):
        await wait_http(f"{base}/health", timeout_s=30, proc=proc)
        stop = asyncio.Event()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as session:
            await warm(session, base)
            before = peak_rss_mb(proc.pid)
            health = asyncio.create_task(watch_health(base, stop))
            started = time.monotonic()
            results = await asyncio.gather(
                *(post(session, base, f"many-{i}", *bomb(kind)) for i, kind in enumerate(kinds))
            )
            took = time.monotonic() - started
            # An ordinary job right after still works.
            status, body = await post(
                session, base, "after", "ok.json", json.dumps([{"a": 1}, {"a": 2}]).encode()
            )
            stop.set()
            worst_health = await health
        grown = peak_rss_mb(proc.pid) - before
        assert proc.poll() is None, "the agent died"
    print(
        f"{len(kinds)} bombs at once: {took:.2f}s, peak RSS +{grown:.0f} MB, "
        f"/health worst {worst_health * 1000:.0f} ms"
    )
    assert status == 200, body
    for got, answer in results:
        # 413 for each cap; 429 (retryable) only if a heavy slot did not free up in time.
        assert got in (413, 429), answer
    assert sum(got == 413 for got, _ in results) >= len(kinds) // 2
    assert grown < N_BOMBS_BUDGET_MB, f"peak RSS grew {grown:.0f} MB"
    assert worst_health < 1.0, f"/health took {worst_health:.2f}s"
