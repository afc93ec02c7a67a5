"""`spotrun dev`: the four agents as local processes plus the bot, or the console without a token."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlparse

import aiohttp
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_client import AgentConfig, AgentRegistry
from agents import AGENTS
from bot.settings import BotSettings, agent_registry
from spotrun.config import SettingsError, load_settings
from spotrun.logs import configure_logging, get_logger

log = get_logger("bot.local.dev")


class AgentStartError(Exception):
    """A local agent did not come up; the message names it and where its log is."""


class DevSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_DEV_", extra="ignore")

    agents: str = Field(default="", description="comma-separated agents to start; empty: all four")
    start_agents: bool = Field(default=True, description="false: use agents already running")
    agent_start_timeout_s: float = Field(default=60.0, gt=0)


def run_dev(console: bool, output_dir: str) -> int:
    settings = load_settings(BotSettings)
    dev = load_settings(DevSettings)
    configure_logging(settings.log_level, settings.log_format)
    registry = agent_registry(settings)
    try:
        return asyncio.run(
            _dev(settings, dev, registry, console or settings.discord_token is None, Path(output_dir))
        )
    except AgentStartError as exc:
        print(f"spotrun dev: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


async def _dev(
    settings: BotSettings, dev: DevSettings, registry: AgentRegistry, console: bool, output_dir: Path
) -> int:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if dev.start_agents:
            wanted = {a.strip() for a in dev.agents.split(",") if a.strip()}
            agents = [a for a in registry if not wanted or a.name in wanted]
            procs = start_agents(agents, output_dir / "logs")
            await wait_healthy(agents, procs, dev.agent_start_timeout_s, output_dir / "logs")
        if console:
            from bot.local.console import run_console_app

            return await run_console_app(settings, registry, output_dir)
        from bot.runtime.main import serve_until_stopped, start_bot

        await serve_until_stopped(await start_bot(settings, registry))
        return 0
    finally:
        stop_agents(procs)


def start_agents(agents: list[AgentConfig], log_dir: Path) -> list[subprocess.Popen[bytes]]:
    """`python -m agents.<pkg>` per agent on its registry port, auth off, logs to log_dir."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for agent in agents:
        package = AGENTS.get(agent.name)
        if package is None or importlib.util.find_spec(f"{package}.app") is None:
            log.warning("agent not available in this checkout; its commands will fail", agent=agent.name)
            continue
        port = urlparse(agent.base_url).port or 80
        env = {
            **os.environ,
            "PORT": str(port),
            "SPOTRUN_AGENT_AUTH": "none",
            "SPOTRUN_AGENT_HOST": "127.0.0.1",
        }
        with open(log_dir / f"{agent.name}.log", "ab") as sink:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", package], env=env, stdout=sink, stderr=subprocess.STDOUT
                )
            )
        log.info("agent started", agent=agent.name, port=port, pid=procs[-1].pid)
    return procs


async def wait_healthy(
    agents: list[AgentConfig], procs: list[subprocess.Popen[bytes]], timeout_s: float, log_dir: Path
) -> None:
    """Every started agent answers /health, or fail naming the one that didn't."""
    started = {p.args[2] for p in procs}  # type: ignore[index]
    names = {package: name for name, package in AGENTS.items()}
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        for agent in agents:
            if AGENTS.get(agent.name) not in started:
                continue
            url = f"{agent.base_url.rstrip('/')}/health"
            while True:
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200:
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                for p in procs:
                    if p.poll() is not None:
                        _exited(names.get(p.args[2], "?"), p.returncode, log_dir)  # type: ignore[index]
                if time.monotonic() > deadline:
                    raise AgentStartError(
                        f"the {agent.name} agent did not answer {url} within {timeout_s:.0f}s"
                    )
                await asyncio.sleep(0.2)


def _exited(name: str, code: int, log_dir: Path) -> NoReturn:
    """An agent exited before it answered: one line, from its own last words where they say why."""
    path = log_dir / f"{name}.log"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    last = next((line for line in reversed(lines) if line.strip()), "")
    if code == 2:
        # Exit code 2 is an agent's settings error, its last line names the variable
        # (agents.common.app.run_agent): a wrong SPOTRUN_AGENT_* in this shell is ours too.
        raise SettingsError(f"the {name} agent did not start: {last}")
    raise AgentStartError(f"the {name} agent exited during startup (exit code {code}); see {path}")


def stop_agents(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
