"""Drill: 1000 commands from 100 users within 10 s against the emulator and the real bot process,
with a fast agent. Per-user limits hold (refusals say so), memory stays bounded, nothing is lost:
every command ends with exactly one result, one clear error, or one refusal."""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.pipeline import bot_process, write_registry
from tests.fakes.discord import DiscordEmulator

pytestmark = pytest.mark.timeout(120)

USERS, PER_USER, FIRST = 100, 10, 9001
SEND_WITHIN_S = 10.0
REFUSAL = "limit: 2 running + 5 queued"


def terminal_replies(emu: DiscordEmulator) -> dict[int, list[str]]:
    """origin id -> the bot's terminal replies to it (result or error embeds, refusals)."""
    out: dict[int, list[str]] = collections.defaultdict(list)
    with emu.world.lock:
        for m in emu.world.messages.values():
            if m.author_id != emu.bot_user_id or not m.message_reference:
                continue
            origin = int(m.message_reference["message_id"])
            if m.content.startswith("❌"):  # a failed job's status message became its error
                out[origin].append("error")
            elif m.embeds:
                out[origin].append("result")
            elif REFUSAL in m.content:
                out[origin].append("refused")
    return out


async def test_1000_commands_from_100_users(emu: DiscordEmulator, echo_agent: Any, tmp_path: Path) -> None:
    # 500 ms per call: a user's burst of 10 is admitted long before their first job ends, so the
    # limit decides exactly: 7 accepted, 3 refused, for every user.
    url = await echo_agent(500)
    registry = write_registry(tmp_path / "agents.yaml", url, max_concurrency=50, timeout_s=30)
    for u in range(USERS):
        emu.add_user(FIRST + u, f"user{u}")
    # Default per-user limits (2 running + 5 queued): they are what is being checked.
    with bot_process(
        emu, tmp_path, registry, SPOTRUN_MAX_RUNNING_PER_USER="2", SPOTRUN_MAX_QUEUED_PER_USER="5"
    ) as proc:
        await emu.wait_for_ready(timeout=30)
        bot = psutil.Process(proc.pid)
        await asyncio.sleep(0.5)
        idle_mb = bot.memory_info().rss / 2**20
        requests_before = len(emu.requests)
        origins: dict[int, int] = {}  # origin message -> user
        sent_at: dict[int, float] = {}
        started = time.monotonic()
        # Each user sends their 10 commands in one burst, users spread over SEND_WITHIN_S.
        for u in range(USERS):
            for i in range(PER_USER):
                origin = emu.user_says(FIRST + u, f"!tts load {u}-{i}")
                origins[origin], sent_at[origin] = FIRST + u, time.time()
            await asyncio.sleep(SEND_WITHIN_S / USERS)
        sent_s = time.monotonic() - started
        peak_mb = idle_mb
        deadline = time.monotonic() + 80
        while time.monotonic() < deadline:
            peak_mb = max(peak_mb, bot.memory_info().rss / 2**20)
            replies = terminal_replies(emu)
            if all(o in replies for o in origins):
                break
            await asyncio.sleep(0.25)
        drained_s = time.monotonic() - started
        await asyncio.sleep(1.5)  # late duplicates would show up here
        replies = terminal_replies(emu)
        after_mb = bot.memory_info().rss / 2**20
        rest_calls = len(emu.requests) - requests_before
        with emu.world.lock:
            answered_at = {
                int(m.message_reference["message_id"]): m.created_at
                for m in emu.world.messages.values()
                if m.author_id == emu.bot_user_id and m.message_reference and m.embeds
            }
        slowest = max(answered_at[o] - sent_at[o] for o in origins if o in answered_at)

    kinds = collections.Counter(r for o in origins for r in replies.get(o, []))
    lost = [o for o in origins if not replies.get(o)]
    duplicated = [o for o in origins if len(replies.get(o, [])) > 1]
    refused_by_user = collections.Counter(u for o, u in origins.items() if "refused" in replies.get(o, []))
    print(
        f"\n[load] {len(origins)} commands from {USERS} users sent in {sent_s:.1f}s; all answered after "
        f"{drained_s:.1f}s; results={kinds['result']} errors={kinds['error']} refused={kinds['refused']} "
        f"lost={len(lost)} duplicated={len(duplicated)}; bot RSS idle {idle_mb:.0f} MB, "
        f"peak {peak_mb:.0f} MB, after {after_mb:.0f} MB; slowest result {slowest:.1f}s after its command "
        f"(job deadline 30 s, queueing included); {rest_calls} Discord REST calls"
    )
    assert not lost, f"{len(lost)} commands got no answer"
    assert not duplicated, f"{len(duplicated)} commands got more than one answer"
    assert kinds["error"] == 0, "a healthy agent with room for 50 calls should not fail jobs"
    wrong = {u: n for u, n in refused_by_user.items() if n != PER_USER - 7}
    assert len(refused_by_user) == USERS and not wrong, f"per-user limit not applied exactly: {wrong}"
    with sqlite3.connect(tmp_path / "bot.db") as db:  # a refused command leaves no job behind
        stored = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    assert stored == kinds["result"], f"{stored} jobs stored for {kinds['result']} accepted commands"
    assert peak_mb < idle_mb + 150 and after_mb < idle_mb + 100, "bot memory is not bounded"
