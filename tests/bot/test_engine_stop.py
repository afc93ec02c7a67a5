"""Stopping the job engine: a wake-up that lands with the stop must not keep the dispatcher alive."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml

from agent_client import load_registry
from bot.core import open_core
from bot.settings import BotSettings


async def test_stop_ends_the_dispatcher_even_when_it_was_just_woken(store_url: str, tmp_path: Path) -> None:
    # Found by running the end-to-end tests on PostgreSQL: a job finishing (which wakes the
    # dispatcher) just as the bot stopped left shutdown waiting forever. Python 3.11's wait_for
    # returns the inner result and drops a cancel that arrives together with it.
    path = tmp_path / "agents.yaml"
    agent = {"name": "a", "base_url": "http://127.0.0.1:9", "commands": ["tts"]}
    path.write_text(yaml.safe_dump({"agents": [agent]}))
    url = store_url if store_url.startswith("postgres") else f"sqlite:///{store_url}"
    core = await open_core(BotSettings(database_url=url), load_registry(path), {})
    try:
        await core.engine.start()
        await asyncio.sleep(0.2)  # the dispatcher now waits for a wake-up or its poll
        core.engine._wake.set()  # e.g. a job just finished; the stop comes in the same tick
        started = time.monotonic()
        stopping = asyncio.ensure_future(core.engine.stop(1))  # cancels the dispatcher in this tick
        done, _ = await asyncio.wait([stopping], timeout=5)
        assert done, "stop() hung: the dispatcher survived its cancel"
        assert time.monotonic() - started < 3
    finally:
        await core.store.close()
        await core.session.close()
