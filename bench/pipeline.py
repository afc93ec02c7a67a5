"""The whole path a user waits on: Discord (emulated) → the real bot process → an agent with a fixed
50 ms service time → the result message, at several concurrency levels.

The bot runs as `python -m spotrun bot` (as in production) so its CPU is measured alone with psutil;
the echo agent runs in its own process; the emulator runs on a thread of this process. The baseline
is agent_client alone calling the same agent at the same concurrency, measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from bench._util import Row, pct
from tests.helpers import ROOT, free_port, wait_http

SERVICE_MS = 50.0
USERS = 8  # commands are spread over users; per-user limits are raised so they don't refuse
FIRST_USER = 7001


@contextmanager
def echo_agent(service_ms: float) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench._echo_agent", str(port), str(service_ms)], cwd=ROOT)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def write_registry(path: Path, url: str, *, max_concurrency: int = 1000, timeout_s: float = 60) -> Path:
    agent = {
        "name": "audio-video",
        "base_url": url,
        "auth": "none",
        "commands": ["tts"],
        "timeout_s": timeout_s,
        "retries": 1,
        "max_concurrency": max_concurrency,
    }
    path.write_text(yaml.safe_dump({"agents": [agent]}))
    return path


@contextmanager
def bot_process(emu: Any, workdir: Path, registry: Path, **extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """`spotrun bot` pointed at the emulator, as an operator starts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTRUN_")}
    env.update(
        PYTHONUNBUFFERED="1",
        SPOTRUN_DISCORD_TOKEN=emu.token,
        SPOTRUN_DISCORD_API_BASE=emu.api_base,
        SPOTRUN_SYNC_GUILD_IDS=str(emu.guild_id),
        SPOTRUN_CLIENT_REGISTRY_FILE=str(registry),
        SPOTRUN_DATABASE_URL=f"sqlite:///{workdir / 'bot.db'}",
        SPOTRUN_OPS_PORT="0",
        SPOTRUN_LOG_LEVEL="WARNING",
        SPOTRUN_MAX_RUNNING_PER_USER="100",
        SPOTRUN_MAX_QUEUED_PER_USER="1000",
        SPOTRUN_STATUS_EDIT_INTERVAL_S="3",
        SPOTRUN_DRAIN_BUDGET_S="1",
    )
    env.update(extra)
    proc = subprocess.Popen([sys.executable, "-m", "spotrun", "bot"], cwd=ROOT, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def results_by_origin(emu: Any) -> dict[int, float]:
    """origin message (or interaction) id -> when the bot's result appeared (read without deep
    copies). The status message becomes the result by an edit: the edit's time, not the post's."""
    out: dict[int, float] = {}
    with emu.world.lock:
        for m in emu.world.messages.values():
            if m.author_id != emu.bot_user_id or not m.embeds:
                continue
            if m.message_reference:
                out[int(m.message_reference["message_id"])] = m.edited_at or m.created_at
            elif m.interaction_id:
                out[m.interaction_id] = m.edited_at or m.created_at
    return out


async def wait_results(emu: Any, origins: dict[int, float], timeout_s: float) -> dict[int, float]:
    deadline = time.monotonic() + timeout_s
    while True:
        got = results_by_origin(emu)
        if all(o in got for o in origins):
            return {o: got[o] - sent for o, sent in origins.items()}
        if time.monotonic() > deadline:
            missing = [o for o in origins if o not in got]
            raise TimeoutError(f"{len(missing)} of {len(origins)} commands got no result in {timeout_s}s")
        await asyncio.sleep(0.01)


def cpu_s(proc: Any) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def rest_calls(emu: Any) -> list[tuple[str, str]]:
    """The bot's REST requests so far, as the emulator saw them ('METHOD', '/path')."""
    with emu.world.lock:
        return list(emu.world.requests)


def per_command(calls: list[tuple[str, str]], n: int) -> str:
    """'POST /channels/…/messages 1.00 · PATCH …/messages/… 1.50' — what each command cost."""
    kinds: dict[str, int] = {}
    for method, path in calls:
        parts = path.split("?")[0].strip("/").split("/")
        # Ids become "…" and interaction tokens "{token}", so one route is one kind.
        shape = "/".join("…" if p.isdigit() else "{token}" if len(p) > 24 else p for p in parts[:5])
        kinds[f"{method} {shape}"] = kinds.get(f"{method} {shape}", 0) + 1
    return " · ".join(f"{k} {v / n:.2f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))


async def through_bot(
    emu: Any, bot: Any, concurrency: int, rounds: int, *, slash: bool = False
) -> tuple[list[float], float, float]:
    """`rounds` bursts of `concurrency` commands (`!tts`, or `/tts` when `slash`); returns
    latencies, wall seconds, bot CPU seconds."""
    latencies: list[float] = []
    wall = 0.0
    cpu0 = cpu_s(bot)
    for r in range(rounds):
        t0 = time.perf_counter()
        origins: dict[int, float] = {}
        for i in range(concurrency):
            sent = time.time()
            user = FIRST_USER + i % USERS
            if slash:
                mid = emu.slash(user, "tts", {"text": f"bench {r}-{i}"})
            else:
                mid = emu.user_says(user, f"!tts bench {r}-{i}")
            origins[mid] = sent
        got = await wait_results(emu, origins, timeout_s=60 + concurrency * 0.5)
        wall += time.perf_counter() - t0
        latencies += got.values()
        await asyncio.sleep(0.3)  # let the final status edits land outside the next burst
    return latencies, wall, cpu_s(bot) - cpu0


async def client_alone(url: str, registry_path: Path, concurrency: int, n: int) -> tuple[list[float], float]:
    from agent_client import AgentClient, create_session, load_registry
    from spotrun.protocol import AgentRequest, CallerContext, Command, TtsArgs

    latencies: list[float] = []
    async with create_session() as session:
        client = AgentClient(load_registry(registry_path), session, None)
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            req = AgentRequest(
                job_id=f"base-{concurrency}-{i}",
                command=Command.TTS,
                args=TtsArgs(text="bench"),
                context=CallerContext(user_id="1"),
            )
            async with sem:
                t = time.perf_counter()
                await client.call(req)
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(one(-i - 1) for i in range(min(concurrency, 20))))  # warm the pool
        latencies.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return latencies, time.perf_counter() - t0


async def run(levels: tuple[int, ...] = (1, 50, 200)) -> list[Row]:
    import psutil

    from tests.fakes.discord import DiscordEmulator

    rows: list[Row] = []
    service = SERVICE_MS / 1000
    with tempfile.TemporaryDirectory() as tmp, echo_agent(SERVICE_MS) as (agent, url):
        await wait_http(f"{url}/health", proc=agent)
        registry = write_registry(Path(tmp) / "agents.yaml", url)
        with DiscordEmulator(token="bench-token") as emu:  # noqa: S106 - a fake server's token
            for u in range(USERS):
                emu.add_user(FIRST_USER + u, f"user{u}")
            with bot_process(emu, Path(tmp), registry) as proc:
                await emu.wait_for_ready(timeout=60)
                bot = psutil.Process(proc.pid)
                await through_bot(emu, bot, 5, 1)  # warm-up: imports, sqlite, connections
                for c in levels:
                    rounds = 20 if c == 1 else max(2, 400 // c)
                    calls_before = len(rest_calls(emu))
                    lat, wall, cpu = await through_bot(emu, bot, c, rounds)
                    # Every REST request the bot made for these commands (the 0.3 s pause after each
                    # burst lets the final edits land): Discord allows 50 a second in all.
                    calls = rest_calls(emu)[calls_before:]
                    base, base_wall = await client_alone(url, registry, c, len(lat))
                    added = [x - service for x in lat]
                    base_added = [x - service for x in base]
                    n = len(lat)
                    b50, b99 = pct(base_added, 0.5), pct(base_added, 0.99)
                    rows += [
                        Row(
                            "pipeline",
                            f"C={c} added latency p50 (n={n})",
                            pct(added, 0.5) * 1000,
                            "ms",
                            "agent_client alone",
                            pct(added, 0.5) / b50 if b50 > 0 else None,
                            f"client alone {b50 * 1000:.1f} ms",
                        ),
                        Row(
                            "pipeline",
                            f"C={c} added latency p99",
                            pct(added, 0.99) * 1000,
                            "ms",
                            "agent_client alone",
                            pct(added, 0.99) / b99 if b99 > 0 else None,
                            f"client alone {b99 * 1000:.1f} ms",
                        ),
                        Row(
                            "pipeline",
                            f"C={c} throughput",
                            n / wall,
                            "cmd/s",
                            "agent_client alone",
                            (n / wall) / (n / base_wall),
                            f"client alone {n / base_wall:.0f}/s",
                        ),
                        Row(
                            "pipeline",
                            f"C={c} Discord REST calls per command",
                            len(calls) / len(lat),
                            "calls",
                            note=per_command(calls, len(lat)),
                        ),
                        Row(
                            "pipeline",
                            f"C={c} bot CPU per command",
                            cpu / n * 1000,
                            "ms",
                            note=f"{cpu:.2f} CPU-s for {n} commands",
                        ),
                    ]
                    print(f"[pipeline] C={c}: {n} commands in {wall:.1f}s", file=sys.stderr)
                for c in levels:
                    # The same commands as /tts: what an interaction costs (the response, its edits).
                    rounds = 10 if c == 1 else max(2, 100 // c)
                    calls_before = len(rest_calls(emu))
                    lat, _, _ = await through_bot(emu, bot, c, rounds, slash=True)
                    calls = rest_calls(emu)[calls_before:]
                    rows.append(
                        Row(
                            "pipeline",
                            f"C={c} slash: Discord REST calls per command",
                            len(calls) / len(lat),
                            "calls",
                            note=per_command(calls, len(lat)),
                        )
                    )
    return rows


if __name__ == "__main__":
    from bench._util import metadata_server, render_table

    metadata_server()
    levels = tuple(int(x) for x in sys.argv[1:]) or (1, 20)
    print(render_table(asyncio.run(run(levels))))
