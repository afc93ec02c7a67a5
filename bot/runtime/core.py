"""The job pipeline's long-lived parts, opened in order and closed in reverse by one owner.

Both the Discord bot (bot.runtime.main) and the console (bot.local.dev) run this same pipeline; they differ
only in the frontend that shows jobs to the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from agent_client import AgentClient, AgentRegistry, GoogleIdTokens, NoAuth, TokenSource, create_session
from agent_client.settings import ClientSettings
from bot.billing.cost import CostSettings
from bot.frontends.base import Frontend
from bot.jobs.engine import JobEngine, LeaseTimes
from bot.jobs.progress import StatusBoard
from bot.jobs.queue import FairQueue
from bot.jobs.runner import JobRunner
from bot.jobs.store import JobStore
from bot.settings import BotSettings
from spotrun.config import load_settings
from spotrun.logs import get_logger

log = get_logger("bot.runtime.core")


@dataclass
class Core:
    settings: BotSettings
    registry: AgentRegistry
    session: aiohttp.ClientSession
    store: JobStore
    client: AgentClient
    engine: JobEngine
    frontends: dict[str, Frontend]

    async def close(self, budget_s: float) -> None:
        await self.engine.stop(budget_s)
        await self.store.close()
        await self.session.close()


def token_source(registry: AgentRegistry, client_settings: ClientSettings) -> TokenSource:
    # Only build Google credentials when some agent needs them: local runs have no metadata server.
    if any(a.auth == "google" for a in registry):
        return GoogleIdTokens(refresh_margin_s=client_settings.token_refresh_margin_s)
    return NoAuth()


async def open_core(settings: BotSettings, registry: AgentRegistry, frontends: dict[str, Frontend]) -> Core:
    """Open session, store, client and engine. `frontends` may be filled in later (the Discord
    frontend needs the bot, which needs the engine) but before the engine starts."""
    client_settings = load_settings(ClientSettings)
    prices = load_settings(CostSettings)
    session = create_session()
    try:
        store = await JobStore.open(
            settings.database_url, pool_max=settings.database_pool_max, timeout_s=settings.database_timeout_s
        )
    except BaseException:
        await session.close()
        raise
    # Which store this process uses, without credentials (a URL may carry a password in dev).
    target = urlsplit(settings.database_url)
    log.info(
        "job store opened",
        backend=store.dialect,
        host=target.hostname or "",
        database=target.path.lstrip("/") if store.dialect != "sqlite" else settings.database_path,
        owner=store.owner,
    )
    client = AgentClient(
        registry,
        session,
        token_source(registry, client_settings),
        backoff_initial_s=client_settings.backoff_initial_s,
        backoff_max_s=client_settings.backoff_max_s,
        max_retry_after_s=client_settings.max_retry_after_s,
    )
    board = StatusBoard(store, frontends, settings.status_edit_interval_s)
    runner = JobRunner(store, client, registry, board, frontends, settings, prices)
    queue = FairQueue(
        {a.name: a.max_concurrency for a in registry},
        settings.max_running_per_user,
        settings.max_queued_per_user,
    )
    times = LeaseTimes(settings.job_lease_s, settings.job_lease_renew_s, settings.job_poll_s)
    engine = JobEngine(store, runner, queue, board, times)
    return Core(settings, registry, session, store, client, engine, frontends)
