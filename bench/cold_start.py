"""Agent cold start: process start -> /health 200, and -> first successful command, per agent.

Baseline: a bare `python -c "import aiohttp"` process, the floor any agent process pays.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import time

from bench._agents import agent_process, call, request
from bench._util import Row, median
from tests.helpers import serve, wait_http

PAGE = (
    b"<html><head><title>Cold</title></head><body><article><p>"
    + b"word " * 300
    + b"</p></article></body></html>"
)


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def first_commands(page_url: str) -> dict[str, tuple[str, dict, list]]:
    return {
        "image-gen": ("enhance", {"scale": 2}, [("a.png", "image/png", _png())]),
        "web-scraper": ("scrape", {"url": page_url}, []),
        "data-analysis": ("analyze", {}, [("d.csv", "text/csv", b"a,b\n1,2\n3,4\n5,7\n")]),
        "audio-video": ("tts", {"text": "hello", "format": "wav"}, []),
    }


async def _once(name: str, command: tuple[str, dict, list]) -> tuple[float, float]:
    env = {"SPOTRUN_SCRAPER_ALLOWED_NETWORKS": '["127.0.0.1/32"]'}
    started = time.perf_counter()
    with agent_process(name, env) as (proc, url):
        await wait_http(f"{url}/health", timeout_s=60, proc=proc)
        health = time.perf_counter() - started
        cmd, args, files = command
        await call(url, cmd, request(cmd, args, files))
        first = time.perf_counter() - started
    return health, first


async def run(repeats: int = 3) -> list[Row]:
    from aiohttp import web

    floor = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import aiohttp"], check=True)
        floor.append(time.perf_counter() - t)
    base = median(floor)
    rows = [Row("coldstart", "python + import aiohttp (floor)", base * 1000, "ms")]

    async def page(_: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    async with serve(app) as site:
        for name, command in first_commands(f"{site}/").items():
            results = [await _once(name, command) for _ in range(repeats)]
            h, f = median([r[0] for r in results]), median([r[1] for r in results])
            rows.append(Row("coldstart", f"{name}: start -> /health 200", h * 1000, "ms", "floor", h / base))
            rows.append(
                Row("coldstart", f"{name}: start -> first {command[0]} ok", f * 1000, "ms", "floor", f / base)
            )
    return rows


if __name__ == "__main__":
    from bench._util import render_table

    print(render_table(asyncio.run(run())))
