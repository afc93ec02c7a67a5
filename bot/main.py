"""`spotrun bot`: THE startup function of the bot process, and the composable start_bot it uses."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field

import discord
from discord.http import Route

from agent_client import AgentRegistry, load_registry
from bot import metrics
from bot.client import SpotrunBot
from bot.core import Core, open_core
from bot.frontends.base import Frontend
from bot.frontends.discord import DiscordFrontend
from bot.ops import OpsServer
from bot.settings import BotSettings
from spotrun.config import SettingsError, load_settings
from spotrun.logs import configure_logging, flush, get_logger

log = get_logger("bot.main")


@dataclass
class Running:
    """A started bot: wait() until it stops, stop() to drain and shut down in order."""

    bot: SpotrunBot
    core: Core
    ops: OpsServer | None
    task: asyncio.Task[None]
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        done, _ = await asyncio.wait(
            [self.task, asyncio.create_task(self._stopped.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        if self.task in done:
            await self.stop()
            if not self.task.cancelled():
                self.task.result()  # a gateway failure surfaces here

    async def stop(self) -> None:
        """Idempotent: a signal and the gateway ending may both ask; one shutdown runs, all wait."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._stopping)

    async def _shutdown(self) -> None:
        metrics.READY.set(0)
        settings = self.core.settings
        log.info("shutting down", drain_budget_s=settings.drain_budget_s)
        # Order: stop taking and running jobs (within the drain budget), then leave the gateway,
        # then close what the jobs used.
        await self.core.engine.stop(settings.drain_budget_s)
        await self.bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        if self.ops is not None:
            await self.ops.stop()
        await self.core.close(0)
        self._stopped.set()
        log.info("stopped")
        flush()


async def start_bot(settings: BotSettings, registry: AgentRegistry | None = None) -> Running:
    """Build everything and connect; used by `spotrun bot`, `spotrun dev` and the tests alike."""
    if settings.discord_token is None:
        raise SettingsError("SPOTRUN_DISCORD_TOKEN is required to run the Discord bot")
    Route.BASE = settings.discord_api_base.rstrip("/")
    registry = registry or load_registry(settings.registry_path)
    frontends: dict[str, Frontend] = {}
    core = await open_core(settings, registry, frontends)
    bot = SpotrunBot(core=core, settings=settings)
    frontends["discord"] = DiscordFrontend(bot)
    ops = None
    try:
        if settings.ops_port:
            ops = OpsServer(bot, core, settings.ops_port)
            await ops.start()
        await bot.login(settings.discord_token.get_secret_value())  # runs setup_hook
    except BaseException:
        if ops is not None:
            await ops.stop()
        await bot.close()
        await core.close(0)
        raise
    task = asyncio.create_task(bot.connect(reconnect=True), name="discord-gateway")
    return Running(bot, core, ops, task)


def run_bot() -> None:
    settings = load_settings(BotSettings)
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(_main(settings))
    except discord.LoginFailure as exc:
        raise SettingsError(f"SPOTRUN_DISCORD_TOKEN was refused by Discord: {exc}") from None


async def _main(settings: BotSettings) -> None:
    await serve_until_stopped(await start_bot(settings))


async def serve_until_stopped(running: Running) -> None:
    """Run until the gateway ends or SIGTERM/SIGINT arrives, then shut down in order."""
    loop = asyncio.get_running_loop()
    # Python as PID 1 ignores SIGTERM without a handler, and discord.py installs none; Spot
    # preemption gives 15 s, so stop within the drain budget.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(running.stop()))
    try:
        await running.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
