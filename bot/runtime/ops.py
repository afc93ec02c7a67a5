"""The ops server on SPOTRUN_OPS_PORT: /healthz (loop alive), /readyz (can serve), /metrics."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.jobs.database import DatabaseErrors
from bot.runtime import metrics
from bot.runtime.lifecycle import Heartbeat

if TYPE_CHECKING:
    from bot.client import SpotrunBot
    from bot.runtime.core import Core

BOT: web.AppKey[SpotrunBot] = web.AppKey("bot")
CORE: web.AppKey[Core] = web.AppKey("core")
HEARTBEAT: web.AppKey[Heartbeat] = web.AppKey("heartbeat")


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the heartbeat task ran recently, so the loop is not stuck in a long callback.
    (Answering at all shows the loop turns; a stale beat shows it barely does.)"""
    beat = request.app[HEARTBEAT]
    limit = request.app[CORE].settings.healthz_stale_s
    age = beat.age_s()
    ok = age <= limit
    return web.json_response(
        {"status": "ok" if ok else "stale", "heartbeat_age_s": round(age, 3)}, status=200 if ok else 503
    )


async def store_write_probe(core: Core) -> str | None:
    """None when a real write to the store commits, else why not."""
    try:
        # Bounded: a database that does not answer must not hold /readyz past the probe's timeout.
        if await asyncio.wait_for(core.store.writable(), timeout=3):
            return None
        return "store: write failed"
    except TimeoutError:
        return "store: no answer within 3 s"
    except (*DatabaseErrors, ValueError) as exc:  # ValueError: aiosqlite's closed connection
        return f"store: {type(exc).__name__}: {exc}"


async def readyz(request: web.Request) -> web.Response:
    bot, core = request.app[BOT], request.app[CORE]
    reasons = []
    # A worker (SPOTRUN_GATEWAY=false) has no gateway to wait for; it is ready when it can work.
    gateway = (bot.gateway_ready or not core.settings.gateway) and not bot.is_closed()
    if not gateway:
        reasons.append("gateway: not connected")
    registry = len(core.registry.agents) > 0
    if not registry:
        reasons.append("registry: no agents loaded")
    store_problem = await store_write_probe(core)
    if store_problem is not None:
        reasons.append(store_problem)
    ready = not reasons
    metrics.READY.set(1 if ready else 0)
    body: dict[str, object] = {
        "ready": ready,
        "gateway": gateway,
        "registry": registry,
        "store": not store_problem,
    }
    if reasons:
        body["reasons"] = reasons
    return web.json_response(body, status=200 if ready else 503)


async def metrics_route(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(bot: SpotrunBot, core: Core, heartbeat: Heartbeat) -> web.Application:
    app = web.Application()
    app[BOT] = bot
    app[CORE] = core
    app[HEARTBEAT] = heartbeat
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_route)
    return app


class OpsServer:
    def __init__(
        self,
        bot: SpotrunBot,
        core: Core,
        port: int,
        host: str = "0.0.0.0",
        *,
        heartbeat: Heartbeat,
    ) -> None:
        self._runner = web.AppRunner(create_app(bot, core, heartbeat), access_log=None)
        self._port = port
        self._host = host

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()
