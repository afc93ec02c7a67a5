"""Stopping the job engine: a wake-up that lands with the stop must not keep the dispatcher alive."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest
import yaml

from agent_client import load_registry
from bot.frontends.console import ConsoleFrontend
from bot.runtime.core import open_core
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


async def test_queue_positions_survive_the_store_going_away_mid_pass(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The position refresher is a task nobody awaits: a store error between its two queries ended
    # it with "Task exception was never retrieved" (seen in the PostgreSQL-restart drill's logs).
    path = tmp_path / "agents.yaml"
    agent = {"name": "a", "base_url": "http://127.0.0.1:9", "commands": ["tts"]}
    path.write_text(yaml.safe_dump({"agents": [agent]}))
    url = store_url if store_url.startswith("postgres") else f"sqlite:///{store_url}"
    console = ConsoleFrontend(io.StringIO(), tmp_path)
    core = await open_core(BotSettings(database_url=url), load_registry(path), {"console": console})
    try:
        job = await core.store.create_job(
            command="tts", args={"text": "hi"}, user_id="1", agent="a", frontend="console"
        )
        core.engine._positions[job.id] = 99  # announced here at another position: a refresh shows it

        async def gone(*args: object, **kwargs: object) -> None:
            raise ConnectionError("connection was closed in the middle of operation")

        monkeypatch.setattr(core.store, "get", gone)  # the database goes away after the queue read
        await core.engine._refresh_positions()  # returns instead of raising
        assert core.engine.store_error is not None and core.engine.store_error.startswith("positions")
        assert core.engine._positions[job.id] == 99  # not marked shown: the next pass tries again
    finally:
        await core.store.close()
        await core.session.close()
