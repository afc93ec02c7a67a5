"""A loopback web site and helpers shared by the web-scraper tests (fixture pages, redirects, traps)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agents.common import AgentSettings
from agents.web_scraper.app import build
from agents.web_scraper.settings import ScraperSettings
from tests.helpers import serve

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"
HITS: web.AppKey[list[str]] = web.AppKey("hits", list)

JS_PAGE = """<!doctype html><html lang="en"><head><title>Rendered by script</title></head>
<body><nav><a href="/">Home</a></nav><div id="app">Loading…</div>
<script src="/app.js"></script>
<script>fetch("http://10.0.0.1/steal").catch(() => {});</script>
</body></html>"""
JS_CODE = """document.getElementById("app").innerHTML =
  "<article><p>This paragraph was written by JavaScript after the page loaded, " +
  "so only a real browser can see it.</p><p>A second paragraph, also written by the script, " +
  "makes the article long enough to count as main text for the extractor.</p></article>";"""


def make_site() -> web.Application:
    app = web.Application()
    app[HITS] = []

    @web.middleware
    async def count(request: web.Request, handler):  # type: ignore[no-untyped-def]
        app[HITS].append(request.path)
        return await handler(request)

    app.middlewares.append(count)

    async def fixture(request: web.Request) -> web.Response:
        path = PAGES / f"{request.match_info['name']}.html"
        if not path.exists():
            raise web.HTTPNotFound()
        return web.Response(body=path.read_bytes(), content_type="text/html", charset="utf-8")

    async def redirect(request: web.Request) -> web.Response:
        targets = {
            "r1": ("/r/r2", 301),
            "r2": ("/pages/news_article", 302),
            "loop": ("/r/loop", 302),
            "private": ("http://10.0.0.1/admin", 302),
            "metadata": ("http://169.254.169.254/computeMetadata/v1/", 307),
            "file": ("file:///etc/passwd", 302),
        }
        location, status = targets[request.match_info["name"]]
        return web.Response(status=status, headers={"Location": location})

    async def big(request: web.Request) -> web.StreamResponse:
        # Chunked, no Content-Length: the cap must be enforced while streaming.
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        for i in range(400):  # ~3.8 MB of distinct paragraphs (extractors drop repeated ones)
            words = " ".join(f"w{i}x{j}" for j in range(800))
            await resp.write(f"<p>Paragraph {i} of the long page. {words}.</p>\n".encode())
        await resp.write_eof()
        return resp

    async def pdf(request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", content_type="application/pdf")

    async def plain(request: web.Request) -> web.Response:
        return web.Response(
            text="Release notes\n\nVersion 2.1 fixes the login bug.\n", content_type="text/plain"
        )

    async def versioned(request: web.Request) -> web.Response:
        return web.Response(text=VERSIONS[request.match_info["name"]], content_type="text/html")

    async def js_page(request: web.Request) -> web.Response:
        return web.Response(text=JS_PAGE, content_type="text/html")

    async def js_code(request: web.Request) -> web.Response:
        return web.Response(text=JS_CODE, content_type="application/javascript")

    app.router.add_get("/pages/{name}", fixture)
    app.router.add_get("/r/{name}", redirect)
    app.router.add_get("/big", big)
    app.router.add_get("/doc.pdf", pdf)
    app.router.add_get("/notes.txt", plain)
    app.router.add_get("/v/{name}", versioned)
    app.router.add_get("/js", js_page)
    app.router.add_get("/app.js", js_code)
    return app


_BODY = """
<p>The library board approved longer opening hours on weekdays, starting in September, after a
survey found that most residents could not visit before the doors closed at five.</p>
<p>Branches will stay open until eight in the evening from Monday to Thursday, and the main
library will also open on Sunday afternoons for a trial period of six months.</p>
"""
_CHANGED = _BODY.replace("until eight in the evening", "until nine in the evening")


def _page(body: str, sidebar_date: str, ad: str, spacing: str = "\n") -> str:
    return f"""<!doctype html><html lang="en"><head><title>Library hours extended</title></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a></nav>
<div class="ad-banner">{ad}</div>
<article><h1>Library hours extended</h1>{spacing.join(body.splitlines())}</article>
<aside class="sidebar"><p>Last updated {sidebar_date}</p><p>Trending: {ad}</p></aside>
<footer>© City News</footer></body></html>"""


VERSIONS = {
    "v1": _page(_BODY, "10 June 2024, 09:14", "Buy one get one free at Bob's Tyres"),
    # Cosmetic: whitespace reflowed, another ad, a new sidebar timestamp.
    "v2": _page(_BODY.replace(" ", "  "), "11 June 2024, 17:02", "Summer sale at Garden World", "\n\n   "),
    # The article itself changed.
    "v3": _page(_CHANGED, "10 June 2024, 09:14", "Buy one get one free at Bob's Tyres"),
}


# ------------------------------------------------------------------ shared test helpers


@asynccontextmanager
async def running_agent(**scraper: Any) -> AsyncIterator[str]:
    """The real web-scraper app on loopback (no auth), with the given scraper settings."""
    app = build(AgentSettings(auth="none"), ScraperSettings(**scraper))
    async with serve(app) as base:
        yield base


async def call(base: str, command: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST one job the way agent_client does; (status, JSON body)."""
    job_id = uuid.uuid4().hex
    body = {"job_id": job_id, "command": command, "args": args, "context": {"user_id": "42"}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/v1/{command}", json=body, headers={"Idempotency-Key": job_id}) as resp,
    ):
        return resp.status, await resp.json()


def test_every_fixture_page_has_a_gold_text() -> None:
    pages = sorted(PAGES.glob("*.html"))
    assert len(pages) >= 8
    for page in pages:
        gold = page.with_suffix(".txt")
        assert gold.exists() and len(gold.read_text().split()) >= 10, f"{gold.name} missing or too short"
