"""`spotrun bot`: THE startup function of the bot process, and the composable start_bot it uses."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field

import discord
import discord.gateway
import yarl
from discord.http import Route

from agent_client import AgentRegistry
from bot.client import SpotrunBot
from bot.frontends.base import Frontend
from bot.frontends.discord import DiscordFrontend
from bot.runtime import lifecycle as life
from bot.runtime import metrics
from bot.runtime.core import Core, open_core
from bot.runtime.lifecycle import Heartbeat, Lifecycle
from bot.runtime.ops import OpsServer
from bot.settings import BotSettings, agent_registry
from spotrun.config import SettingsError, load_settings
from spotrun.logs import configure_logging, flush, get_logger

log = get_logger("bot.runtime.main")


class StartCancelled(Exception):
    """SIGTERM arrived while the bot was still backing off before its gateway login."""


@dataclass
class Running:
    """A started bot: wait() until it stops, stop() to drain and shut down in order."""

    bot: SpotrunBot
    core: Core
    ops: OpsServer | None
    task: asyncio.Task[None]
    lifecycle: Lifecycle
    heartbeat: Heartbeat
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        done, _ = await asyncio.wait(
            [self.task, asyncio.create_task(self._stopped.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        if self.task in done:
            failed = not self.task.cancelled() and self.task.exception() is not None
            await self.stop(life.CRASH if failed else life.GATEWAY_CLOSED)
            if not self.task.cancelled():
                self.task.result()  # a gateway failure surfaces here

    async def stop(self, cause: str = life.CLEAN) -> None:
        """Idempotent: a signal and the gateway ending may both ask; one shutdown runs, all wait."""
        self.request_stop(cause)
        assert self._stopping is not None
        await asyncio.shield(self._stopping)

    def request_stop(self, cause: str) -> None:
        """Start the shutdown without waiting for it (from a signal handler); the first cause wins."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._shutdown(cause))

    async def _shutdown(self, cause: str) -> None:
        metrics.READY.set(0)
        settings = self.core.settings
        log.info("shutting down", cause=cause, drain_budget_s=settings.drain_budget_s)
        # Order: stop taking and running jobs (within the drain budget; commands arriving now are
        # stored queued for the next process), then leave the gateway, then close what jobs used.
        # A holder of shards hands them to a standby meanwhile: each session closes only once
        # the new holder is READY (bot.shards.keeper), so the shard is never without one.
        await asyncio.gather(
            self.core.engine.stop(settings.drain_budget_s),
            self.bot.keeper.hand_over(settings.shard_handover_s),
        )
        await self.bot.close()
        await self.bot.keeper.stop()  # after close: a lease left must not be taken while a session is open
        if not settings.gateway:
            self.task.cancel()  # the worker's stand-in for the gateway task
        with contextlib.suppress(asyncio.CancelledError, discord.DiscordException, OSError):
            await self.task
        if self.ops is not None:
            await self.ops.stop()
        await self.heartbeat.stop()
        await self.core.close(0)
        if cause != life.CRASH:
            self.lifecycle.end(cause)
        self._stopped.set()
        log.info("stopped", cause=cause)
        flush()


async def start_bot(
    settings: BotSettings,
    registry: AgentRegistry | None = None,
    *,
    lifecycle: Lifecycle | None = None,
    cancel: asyncio.Event | None = None,
) -> Running:
    """Build everything and connect; used by `spotrun bot`, `spotrun dev` and the tests alike.

    The ops server comes up first (liveness holds during a crash-loop backoff), then the backoff,
    then the gateway login; `cancel` set during the backoff raises StartCancelled."""
    if settings.discord_token is None:
        raise SettingsError("SPOTRUN_DISCORD_TOKEN is required to run the Discord bot")
    Route.BASE = settings.discord_api_base.rstrip("/")
    if settings.discord_gateway_url:
        # AutoShardedBot asks GET /gateway/bot, but a re-IDENTIFY after INVALID_SESSION uses this.
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    registry = registry or agent_registry(settings)
    lifecycle = lifecycle or Lifecycle.beside(
        settings.database_path, settings.login_backoff_window_s, settings.login_backoff_s
    )
    wait_s = lifecycle.begin()
    frontends: dict[str, Frontend] = {}
    core = await open_core(settings, registry, frontends)
    bot = SpotrunBot(core=core, settings=settings)
    bot.lifecycle = lifecycle
    frontends["discord"] = DiscordFrontend(bot)
    _track_readiness(bot)
    heartbeat = Heartbeat()
    heartbeat.start()
    ops = None
    logging_in = False
    try:
        if settings.ops_port:
            ops = OpsServer(bot, core, settings.ops_port, heartbeat=heartbeat)
            await ops.start()
        if wait_s > 0:
            log.warning(
                "crash-loop backoff before the gateway login",
                wait_s=wait_s,
                starts_in_window=lifecycle.recent_starts,
                window_s=settings.login_backoff_window_s,
                previous_cause=lifecycle.previous_cause,
                reason="Discord resets the token after 1000 IDENTIFYs in 24 h",
            )
            stop = cancel or asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)
            if stop.is_set():
                raise StartCancelled
        logging_in = True
        try:
            await bot.login(settings.discord_token.get_secret_value())  # runs setup_hook
        except discord.LoginFailure as exc:
            # A wrong token is a setting error (one line, exit 2) for `spotrun bot` and `spotrun dev` alike.
            raise SettingsError(f"SPOTRUN_DISCORD_TOKEN was refused by Discord: {exc}") from None
    except BaseException:
        # Close everything even if one close fails: a store left open keeps aiosqlite's
        # (non-daemon) thread alive, and the process would hang at exit.
        closers = [heartbeat.stop(), core.close(0)]
        if ops is not None:
            closers.insert(0, ops.stop())
        # Before login, AutoShardedBot.close() fails (its event queue is made in login).
        closers.insert(0, bot.close() if logging_in else bot.http.close())
        for closer in closers:
            try:
                await closer
            except Exception:  # the original error is the one to raise; log this one
                log.exception("cleanup after a failed start failed")
        lifecycle.end(life.SIGTERM if cancel is not None and cancel.is_set() else life.CRASH)
        raise
    log.info(
        "bot started",
        previous_cause=lifecycle.previous_cause,
        waited_s=wait_s,
        pod=settings.pod_name,
        node=settings.node_name,
    )
    if settings.gateway:
        task = asyncio.create_task(bot.connect(reconnect=True), name="discord-gateway")
    else:
        # A worker: REST only (posting and editing need no gateway), events stay with the others.
        task = asyncio.create_task(_worker(bot), name="job-worker")
    return Running(bot, core, ops, task, lifecycle, heartbeat)


async def _worker(bot: SpotrunBot) -> None:
    """Stands for the gateway task in a worker: it runs until the shutdown cancels it."""
    log.info("worker mode: no gateway connection; running jobs from the shared store")
    await bot.keeper.start_worker()
    await asyncio.Event().wait()


def _track_readiness(bot: SpotrunBot) -> None:
    """spotrun_ready follows the gateway as it happens, not only when /readyz is probed."""

    async def up() -> None:
        metrics.READY.set(1 if len(bot.core.registry.agents) > 0 else 0)

    async def down() -> None:
        metrics.READY.set(0)

    bot.add_listener(up, "on_ready")
    bot.add_listener(up, "on_resumed")
    bot.add_listener(down, "on_disconnect")


def run_bot() -> None:
    settings = load_settings(BotSettings)
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(_main(settings))
    finally:
        flush()


async def _main(settings: BotSettings) -> None:
    loop = asyncio.get_running_loop()
    cancel = asyncio.Event()
    running: Running | None = None

    def on_signal(sig: signal.Signals) -> None:
        # Python as PID 1 ignores SIGTERM without a handler, and discord.py installs none; Spot
        # preemption gives 15 s: drain within the budget, and exit by the deadline whatever hangs.
        if cancel.is_set():
            return
        cancel.set()
        log.info("signal received", signal=sig.name)
        life.arm_exit_deadline(settings.exit_deadline_s)
        if running is not None:
            running.request_stop(life.SIGTERM if sig is signal.SIGTERM else life.SIGINT)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        try:
            running = await start_bot(settings, cancel=cancel)
        except StartCancelled:
            log.info("stopped during the crash-loop backoff")
            return
        if cancel.is_set():  # the signal came during the login itself
            running.request_stop(life.SIGTERM)
        await running.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def serve_until_stopped(running: Running) -> None:
    """Run until the gateway ends or SIGTERM/SIGINT arrives, then shut down in order."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        cause = life.SIGTERM if sig is signal.SIGTERM else life.SIGINT
        loop.add_signal_handler(sig, running.request_stop, cause)
    try:
        await running.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
