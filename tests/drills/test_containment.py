"""Drill: one user's hostile inputs interleaved with other users' normal commands, through the
Discord emulator, the real bot and the four real agents running as processes (as deployed).

What must hold (issue "Failure containment"): every normal command succeeds within its usual time,
every hostile one ends with a message about the input (a 4xx-class error, never "the agent is
failing"), no agent restarts or stops answering /health, and no breaker ever opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.bot.conftest import AGENTS
from tests.drills import bombs
from tests.drills.conftest import write_registry
from tests.fakes.discord import DiscordEmulator
from tests.fakes.openai_images import FakeOpenAIImages
from tests.helpers import agent_process, serve, wait_http

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

MALLORY = 6666
NORMAL_USERS = [7001, 7002, 7003, 7004]
CSV = b"date,revenue\n2024-01-31,10\n2024-02-29,12\n2024-03-31,15\n2024-04-30,11\n2024-05-31,13\n"
# Error codes that say "your input (or the page/provider you named) is the problem": 4xx-class.
INPUT_CODES = {
    "invalid_argument",
    "unsupported_media",
    "payload_too_large",
    "blocked_url",
    "fetch_failed",
    "content_policy",
    "provider_error",
}
# The agents the bombs target need their engines; without them the drill has nothing to prove.
MODULES = {name: module.removesuffix(".app") for name, (module, _) in AGENTS.items()}


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """A real-looking article for the normal users; every other path is a 404 for mallory."""

    async def article(request: web.Request) -> web.Response:
        paras = "".join(
            f"<p>Paragraph {i}: the harbour committee met again to discuss the lighthouse repairs.</p>"
            for i in range(8)
        )
        return web.Response(
            text=f"<html><head><title>Harbour news</title></head><body><article><h1>Harbour news</h1>"
            f"{paras}</article></body></html>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/article", article)
    async with serve(app) as url:
        yield url


@pytest.fixture
async def provider() -> AsyncIterator[FakeOpenAIImages]:
    fake = FakeOpenAIImages()
    fake.mode = "policy"  # every prompt is refused by the provider's safety system (a 400)
    async with serve(fake.app()) as url:
        fake.base_url = url
        yield fake


@pytest.fixture
def agents(provider: FakeOpenAIImages) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], str]]]:
    """The four agents as processes with their production defaults, except: no auth (loopback),
    loopback pages allowed for the scraper, the image provider pointed at the loopback fake."""
    env = {
        "SPOTRUN_SCRAPER_ALLOW_PRIVATE_NETWORKS": "true",
        "SPOTRUN_IMAGEGEN_PROVIDER": "openai",
        "SPOTRUN_IMAGEGEN_OPENAI_API_KEY": provider.api_key,
        "SPOTRUN_IMAGEGEN_OPENAI_BASE_URL": provider.base_url,
        "SPOTRUN_AGENT_LOG_LEVEL": "WARNING",
    }
    with ExitStack() as stack:
        yield {name: stack.enter_context(agent_process(MODULES[name], env)) for name in AGENTS}


class Watch:
    """Polls every agent's /health and every breaker while the drill runs."""

    def __init__(self, urls: dict[str, str], running: Any) -> None:
        self.urls = urls
        self.running = running
        self.worst_health_s: dict[str, float] = dict.fromkeys(urls, 0.0)
        self.health_failures: list[str] = []
        self.breaker_states: set[tuple[str, str]] = set()

    async def run(self) -> None:
        async with aiohttp.ClientSession() as s:
            while True:
                for name, url in self.urls.items():
                    started = time.monotonic()
                    try:
                        async with s.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=5)) as r:
                            if r.status != 200:
                                self.health_failures.append(f"{name}: {r.status}")
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        self.health_failures.append(f"{name}: {exc!r}")
                    took = time.monotonic() - started
                    self.worst_health_s[name] = max(self.worst_health_s[name], took)
                    state = self.running.core.client.breaker_state(name).value
                    self.breaker_states.add((name, state))
                await asyncio.sleep(0.25)


def normal_commands(site: str) -> list[tuple[int, str, list[tuple[str, bytes, str]], str]]:
    files = [("sales.csv", CSV, "text/csv")]
    return [
        (NORMAL_USERS[0], "!tts the harbour opens at nine", [], "tts"),
        (NORMAL_USERS[1], "!analyze", files, "analyze"),
        (NORMAL_USERS[2], f"!scrape {site}/article", [], "scrape"),
        (NORMAL_USERS[3], "!chart line x=date y=revenue", files, "chart"),
    ]


def hostile_commands(site: str) -> list[tuple[str, list[tuple[str, bytes, str]]]]:
    cmds: list[tuple[str, list[tuple[str, bytes, str]]]] = []
    for i in range(10):
        cmds.append((f"!scrape {site}/missing-{i}", []))
        cmds.append((f"!scrape http://nohost-{i}.invalid/", []))
    cmds.append(("!generate a forbidden picture", []))
    cmds.extend(bombs.hostile_uploads())
    return cmds


def jobs_by_origin(db: Path) -> dict[str, dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM jobs").fetchall()
    return {str(r["origin_message_id"]): dict(r) for r in rows}


async def wait_jobs(db: Path, origins: list[int], timeout_s: float) -> dict[int, dict[str, Any]]:
    """Wait until every origin's job has ended and been posted; returns their rows."""
    deadline = time.monotonic() + timeout_s
    rows: dict[int, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        by_origin = jobs_by_origin(db)
        rows = {o: by_origin[str(o)] for o in origins if str(o) in by_origin}
        ended = ("succeeded", "failed", "cancelled")
        done = [r for r in rows.values() if r["state"] in ended and r["posted_at"]]
        if len(done) == len(origins):
            return rows
        await asyncio.sleep(0.2)
    missing = [o for o in origins if o not in rows or not rows[o]["posted_at"]]
    raise AssertionError(f"{len(missing)} jobs not ended and posted in {timeout_s}s: {missing[:5]}")


async def test_one_users_hostile_burst_does_not_hurt_anyone_else(
    emu: DiscordEmulator,
    site: str,
    agents: dict[str, tuple[subprocess.Popen[bytes], str]],
    start_bot_with: Any,
    tmp_path: Path,
) -> None:
    urls = {name: url for name, (_, url) in agents.items()}
    for proc, url in agents.values():
        await wait_http(f"{url}/health", proc=proc, timeout_s=60)
    emu.add_user(MALLORY, "mallory")
    for uid in NORMAL_USERS:
        emu.add_user(uid, f"user{uid}")
    registry = write_registry(tmp_path / "agents.yaml", urls, max_concurrency=4, retries=3)
    running = await start_bot_with(
        registry, MAX_RUNNING_PER_USER="4", MAX_QUEUED_PER_USER="60", MAX_INPUT_BYTES=str(10 * 2**20)
    )
    db = tmp_path / "bot.db"
    watch = Watch(urls, running)
    watcher = asyncio.create_task(watch.run())
    try:
        # Calm: how long each normal command takes on its own (its "usual time").
        calm: dict[str, float] = {}
        for uid, text, files, name in normal_commands(site):
            origin = emu.user_says(uid, text, attachments=files)
            row = (await wait_jobs(db, [origin], 60))[origin]
            assert row["state"] == "succeeded", f"calm {name}: {row['error_code']} {row['error_message']}"
            calm[name] = row["posted_at"] - row["created_at"]

        # Storm: mallory's burst, with the normal users' commands interleaved through it.
        hostile = hostile_commands(site)
        normal = normal_commands(site) * 3
        hostile_origins: list[int] = []
        normal_origins: dict[int, str] = {}
        every = max(1, len(hostile) // len(normal))
        for i, (text, files) in enumerate(hostile):
            hostile_origins.append(emu.user_says(MALLORY, text, attachments=files))
            if i % every == 0 and normal:
                uid, ntext, nfiles, name = normal.pop(0)
                normal_origins[emu.user_says(uid, ntext, attachments=nfiles)] = name
            await asyncio.sleep(0.05)
        for uid, ntext, nfiles, name in normal:
            normal_origins[emu.user_says(uid, ntext, attachments=nfiles)] = name
        rows = await wait_jobs(db, [*hostile_origins, *normal_origins], 180)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await running.stop()

    report = [f"\n[containment] {len(hostile_origins)} hostile, {len(normal_origins)} normal"]
    slow = []
    for origin, name in normal_origins.items():
        row = rows[origin]
        took = row["posted_at"] - row["created_at"]
        why = f"{row['error_code']} {row['error_message']}"
        assert row["state"] == "succeeded", f"normal {name} failed: {why}"
        # "Within its usual time": a shared 2-core machine jitters, so allow 3× plus 5 s.
        if took > 3 * calm[name] + 5:
            slow.append(f"{name} {took:.1f}s (calm {calm[name]:.1f}s)")
        report.append(f"  normal {name:8} {took:5.1f}s (calm {calm[name]:.1f}s)")
    for origin in hostile_origins:
        row = rows[origin]
        said = (row["error_message"] or "")[:90]
        report.append(f"  hostile {row['command']:8} -> {row['error_code']}: {said}")
    print("\n".join(report))
    print(f"  worst /health latency: { {k: round(v, 2) for k, v in watch.worst_health_s.items()} }")
    assert not slow, f"normal commands slowed down by the hostile burst: {slow}"
    for origin in hostile_origins:
        row = rows[origin]
        assert row["state"] == "failed" and row["error_code"] in INPUT_CODES, (
            f"hostile {row['command']} {row['args_json'][:80]} ended {row['state']} {row['error_code']}: "
            f"{row['error_message']}"
        )
    assert not watch.health_failures, watch.health_failures[:5]
    assert max(watch.worst_health_s.values()) < 2.0, watch.worst_health_s
    opened = {(n, s) for n, s in watch.breaker_states if s != "closed"}
    assert not opened, f"a breaker opened: {opened}"
    for name, (proc, _) in agents.items():
        assert proc.poll() is None, f"the {name} agent exited ({proc.returncode})"
