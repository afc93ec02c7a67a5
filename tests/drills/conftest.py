"""Drill fixtures: the Discord emulator, the real agents with production guards on (the scraper's
SSRF guard stays on), and a starter for the real bot via bot.runtime.main.start_bot."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bot.bot_process import BotProcess
from tests.bot.conftest import AGENTS, agent_available
from tests.fakes.discord import DiscordEmulator
from tests.helpers import ROOT, free_port, serve, wait_http

FIRST_USER = 6001


@pytest.fixture
def emu() -> Iterator[DiscordEmulator]:
    emulator = DiscordEmulator(token="drill-token")
    emulator.start()
    with emulator.patch_discord():
        yield emulator
    emulator.stop()


@pytest.fixture
async def real_agents(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, str]]:
    """Every agent in this checkout, in-process on loopback, with its production defaults."""
    from agents.common.settings import AgentSettings

    monkeypatch.delenv("SPOTRUN_SCRAPER_ALLOW_PRIVATE_NETWORKS", raising=False)
    urls: dict[str, str] = {}
    async with AsyncExitStack() as stack:
        for name, (module, _) in AGENTS.items():
            if agent_available(name):
                app = importlib.import_module(module).build(AgentSettings(auth="none"))
                urls[name] = await stack.enter_async_context(serve(app))
        yield urls


def write_registry(path: Path, urls: dict[str, str], **overrides: Any) -> Path:
    agents = [
        {
            "name": name,
            "base_url": urls[name],
            "auth": "none",
            "commands": commands,
            "timeout_s": 30,
            "retries": 1,
            **overrides,
        }
        for name, (_, commands) in AGENTS.items()
        if name in urls
    ]
    path.write_text(yaml.safe_dump({"agents": agents}))
    return path


@pytest.fixture
def start_bot_with(
    emu: DiscordEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Awaitable[Any]]:
    """start_bot_with(registry, **SPOTRUN_* settings) -> Running; stopped at teardown by the caller."""
    from bot.runtime.main import start_bot
    from bot.settings import BotSettings
    from spotrun.config import load_settings

    async def start(registry: Path, **settings: str) -> Any:
        env = {
            "DISCORD_TOKEN": emu.token,
            "DISCORD_API_BASE": emu.api_base,
            "SYNC_GUILD_IDS": str(emu.guild_id),
            "CLIENT_REGISTRY_FILE": str(registry),
            "CLIENT_BACKOFF_INITIAL_S": "0.05",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "STATUS_EDIT_INTERVAL_S": "1",
            "OPS_PORT": "0",
            "DRAIN_BUDGET_S": "1",
            "LOG_LEVEL": "WARNING",
            **settings,
        }
        for key, value in env.items():
            monkeypatch.setenv(f"SPOTRUN_{key}", value)
        running = await start_bot(load_settings(BotSettings))
        await emu.wait_for_ready(timeout=30)
        return running

    return start


@pytest.fixture
async def echo_agent() -> AsyncIterator[Callable[[float], Awaitable[str]]]:
    """Protocol agents with a fixed service time, each in its own process (bench._echo_agent)."""
    procs: list[subprocess.Popen[bytes]] = []

    async def start(service_ms: float) -> str:
        port = free_port()
        proc = _spawn_echo(port, service_ms)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        await wait_http(f"{url}/health", proc=proc)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def _spawn_echo(port: int, service_ms: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench._echo_agent", str(port), str(service_ms)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def mentions_are_safe(msg: Any, requester: int | None = None) -> bool:
    """No @everyone/@here, no roles, and at most the requester pinged (what Discord would enforce)."""
    am = msg.allowed_mentions
    if am is None:
        return False
    users = [str(u) for u in am.get("users", [])]
    return am.get("parse") == [] and not am.get("roles") and users in ([], [str(requester)])


@pytest.fixture
async def processes() -> AsyncIterator[list[BotProcess]]:
    """Bot subprocesses a drill started; whatever is still running is killed after it."""
    started: list[BotProcess] = []
    yield started
    for bot in started:
        bot.kill()
