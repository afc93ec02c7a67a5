"""The console process: the same pipeline as the bot, with the console frontend on stdin/stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from agent_client import AgentRegistry
from bot.commands.catalog import Catalog
from bot.frontends.base import Frontend
from bot.frontends.console import ConsoleFrontend, run_console
from bot.runtime.core import open_core
from bot.settings import BotSettings


async def run_console_app(
    settings: BotSettings,
    registry: AgentRegistry,
    output_dir: Path,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    stdin, out = stdin or sys.stdin, out or sys.stdout
    frontends: dict[str, Frontend] = {"console": ConsoleFrontend(out, output_dir)}
    core = await open_core(settings, registry, frontends)
    try:
        catalog = Catalog(registry, core.client, core.store, timeout_s=settings.manifest_timeout_s)
        await catalog.load()
        await core.engine.start()
        try:
            return await run_console(core.engine, settings, stdin, out, catalog)
        finally:
            await catalog.close()
    finally:
        await core.close(settings.drain_budget_s)
