"""Bot memory: RSS idle after connecting, at its peak with N jobs queued or in flight, and after they
drain (twice, so growth between drains shows a leak), against a bare discord.py client connected to
the same emulator (the floor any bot pays) measured in the same run.

The agent takes 3 s per call and the registry allows as many concurrent calls as there are jobs,
so all of them are in flight at once (a job waiting in the bot's own queue is measured by the drills;
see docs/performance.md for why the queued path is not what this bench loads).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._util import Row
from bench.pipeline import bot_process, echo_agent, results_by_origin, write_registry
from tests.helpers import ROOT, wait_http

SERVICE_MS = 3000.0
USERS = 10
FIRST_USER = 8001


def _mb(proc: Any) -> float:
    return float(proc.memory_info().rss) / 2**20


async def _bare_client_rss(emu: Any) -> float:
    """RSS of a plain discord.py client (default intents) once READY on the same emulator."""
    import psutil

    before = emu.sessions
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.memory", "bare", emu.api_base, emu.gateway_url, emu.token], cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 60
        while emu.sessions <= before:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the bare discord.py client never became ready")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        return _mb(psutil.Process(proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)


async def _burst(emu: Any, bot: Any, jobs: int, tag: str) -> tuple[float, float]:
    """Submit `jobs` commands at once; returns (peak RSS MB while they run, seconds to drain)."""
    t0 = time.perf_counter()
    origins = [emu.user_says(FIRST_USER + i % USERS, f"!tts mem {tag} {i}") for i in range(jobs)]
    peak = _mb(bot)
    deadline = time.monotonic() + 180
    while True:
        peak = max(peak, _mb(bot))
        got = results_by_origin(emu)
        if all(o in got for o in origins):
            return peak, time.perf_counter() - t0
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(o not in got for o in origins)} of {jobs} jobs never finished")
        await asyncio.sleep(0.1)


async def run(jobs: int = 1000) -> list[Row]:
    import psutil

    from tests.fakes.discord import DiscordEmulator

    with tempfile.TemporaryDirectory() as tmp, echo_agent(SERVICE_MS) as (agent, url):
        await wait_http(f"{url}/health", proc=agent)
        registry = write_registry(Path(tmp) / "agents.yaml", url, max_concurrency=jobs)
        with DiscordEmulator(token="bench-token") as emu:  # noqa: S106 - a fake server's token
            for u in range(USERS):
                emu.add_user(FIRST_USER + u, f"user{u}")
            bare = await _bare_client_rss(emu)
            with bot_process(emu, Path(tmp), registry) as proc:
                await emu.wait_for_ready(timeout=60)
                bot = psutil.Process(proc.pid)
                await asyncio.sleep(1.0)
                idle = _mb(bot)
                peak1, drain1 = await _burst(emu, bot, jobs, "a")
                await asyncio.sleep(2.0)
                after1 = _mb(bot)
                peak2, drain2 = await _burst(emu, bot, jobs, "b")
                await asyncio.sleep(2.0)
                after2 = _mb(bot)
    print(f"[memory] {jobs} jobs drained in {drain1:.1f}s and {drain2:.1f}s", file=sys.stderr)
    return [
        Row("memory", "bare discord.py client RSS (ready)", bare, "MB", note="floor"),
        Row("memory", "bot RSS idle (connected)", idle, "MB", "bare client", idle / bare),
        Row("memory", f"bot RSS peak, {jobs} jobs queued/in flight", peak1, "MB", "bot idle", peak1 / idle),
        Row("memory", "bot RSS after they drained", after1, "MB", "bot idle", after1 / idle),
        Row("memory", f"bot RSS peak, 2nd burst of {jobs}", peak2, "MB", "bot idle", peak2 / idle),
        Row(
            "memory",
            "bot RSS after the 2nd drain (leak check)",
            after2,
            "MB",
            "after 1st drain",
            after2 / after1,
            f"+{(after2 - after1) * 1024 / jobs:.1f} KB/job",
        ),
    ]


def _bare(api_base: str, gateway_url: str, token: str) -> None:
    import discord
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    discord.Client(intents=discord.Intents.default()).run(token, log_handler=None)


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"]:
        _bare(*sys.argv[2:5])
    else:
        from bench._util import metadata_server, render_table

        metadata_server()
        os.environ.setdefault("MPLCONFIGDIR", "/tmp/spotrun-mpl")
        print(render_table(asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 200))))
