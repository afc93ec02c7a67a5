"""The ops server on SPOTRUN_OPS_PORT: /healthz (loop alive), /readyz (can serve), /metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics

if TYPE_CHECKING:
    from bot.client import SpotrunBot
    from bot.core import Core

BOT: web.AppKey[SpotrunBot] = web.AppKey("bot")
CORE: web.AppKey[Core] = web.AppKey("core")


async def healthz(request: web.Request) -> web.Response:
    # Answering at all proves the event loop is responsive.
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    bot, core = request.app[BOT], request.app[CORE]
    checks = {
        "gateway": bot.gateway_ready and not bot.is_closed(),
        "registry": len(core.registry.agents) > 0,
        "store": await core.store.writable(),
    }
    ready = all(checks.values())
    metrics.READY.set(1 if ready else 0)
    return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)


async def metrics_route(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(bot: SpotrunBot, core: Core) -> web.Application:
    app = web.Application()
    app[BOT] = bot
    app[CORE] = core
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_route)
    return app


class OpsServer:
    def __init__(self, bot: SpotrunBot, core: Core, port: int, host: str = "0.0.0.0") -> None:
        self._runner = web.AppRunner(create_app(bot, core), access_log=None)
        self._port = port
        self._host = host

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()
