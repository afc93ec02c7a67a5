"""A minimal loopback agent for client benchmarks: fixed answer after an optional service time."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from spotrun.protocol import AgentResult, Usage


def main() -> None:
    port, service_ms = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        if service_ms:
            await asyncio.sleep(service_ms / 1000)
        result = AgentResult(
            job_id=body["job_id"],
            command=body["command"],
            text="ok",
            usage=Usage(duration_ms=service_ms),
        )
        return web.Response(body=result.model_dump_json().encode(), content_type="application/json")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"agent": "bench", "version": "0", "commands": ["tts"]})

    app = web.Application()
    app.router.add_post("/v1/{command}", handle)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
