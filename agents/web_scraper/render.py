"""Optional JavaScript rendering on the system Chromium, with every request routed through the guard.

Chromium never touches the network itself: each request the page makes is intercepted and
either answered by the guarded `Fetcher` (same SSRF rules, same DNS pinning) or aborted. As a
second wall, Chromium is pointed at a dead proxy, so anything that escapes interception fails.
Every render has caps decided before it loads (`render_limits.RenderCaps`), enforced here in the
route handler and the browser's flags; past a cap the browser is refused what it asked for and
the render goes on. Playwright is imported on first use only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agents.common import AgentFailure
from agents.web_scraper.fetch import Fetcher, Page
from agents.web_scraper.render_limits import Budget, RenderCaps, RenderReport
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode

log = get_logger("agents.web_scraper.render")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    # Nothing may leave Chromium except through our route handler: a dead proxy for the rest,
    # loopback included (Chromium bypasses proxies for loopback unless told otherwise).
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]
# Time kept after the render for extraction and the answer, within the job's deadline.
_AFTER_RENDER_S = 2.0
# Waiting for a free tab stops when less than this is left for the render itself.
_MIN_RENDER_S = 5.0
# Text does not depend on these; skipping them saves time and bytes.
_SKIPPED_RESOURCES = {"image", "media", "font", "manifest", "texttrack", "eventsource", "websocket"}


def chromium_status(enabled: bool, path: str) -> tuple[bool, str]:
    """(available, detail) without importing playwright."""
    if not enabled:
        return False, "disabled (set SPOTRUN_SCRAPER_RENDER_JS=true to enable)"
    if not Path(path).exists():
        return False, f"{path} not found (install the chromium system package)"
    if importlib.util.find_spec("playwright") is None:
        return False, "the playwright Python package is not installed"
    return True, path


class Renderer:
    """One browser per process, launched on first use; one fresh context per render."""

    def __init__(self, fetcher: Fetcher, chromium_path: str, caps: RenderCaps, concurrency: int) -> None:
        self.fetcher = fetcher
        self.chromium_path = chromium_path
        self.caps = caps
        self._slots = asyncio.Semaphore(concurrency)
        self._launch_lock = asyncio.Lock()
        self._playwright: Any = None
        self._browser: Any = None

    async def _browser_ready(self) -> Any:
        async with self._launch_lock:
            if self._browser is None or not self._browser.is_connected():
                from playwright.async_api import Error as PlaywrightError
                from playwright.async_api import async_playwright

                # A page's own scripts (a loop that grows an array) are held by V8's heap limit:
                # past it the tab crashes alone and the render falls back to the page as served.
                args = [*CHROMIUM_ARGS, f"--js-flags=--max-old-space-size={self.caps.js_heap_mb}"]
                try:
                    if self._playwright is None:
                        self._playwright = await async_playwright().start()
                    self._browser = await self._playwright.chromium.launch(
                        executable_path=self.chromium_path, args=args, headless=True
                    )
                except PlaywrightError as exc:
                    raise AgentFailure(
                        ErrorCode.ENGINE_UNAVAILABLE,
                        f"Chromium could not start ({str(exc).splitlines()[0]}) — scrape without "
                        "render_js=true, or check the chromium install",
                    ) from None
            return self._browser

    async def render(self, page_url: str, budget_s: float) -> tuple[Page, RenderReport]:
        """The page's HTML after its scripts ran, within the caps; the document itself is fetched
        by the guard. Past the DOM cap or on a tab crash, the page as served, with a warning."""
        deadline = time.monotonic() + min(budget_s - _AFTER_RENDER_S, self.caps.timeout_s)
        document = await self.fetcher.fetch(page_url, deadline - time.monotonic())
        blocked: list[str] = []
        report = RenderReport()
        budget = Budget(self.caps, report)
        async with self._tab(deadline):
            browser = await self._browser_ready()
            context = await browser.new_context(
                service_workers="block", java_script_enabled=True, user_agent=None, accept_downloads=False
            )
            try:
                tab = await context.new_page()
                await tab.route("**/*", lambda route: self._route(route, document, deadline, blocked, budget))
                await tab.route_web_socket("**/*", lambda ws: ws.close())
                html = await self._load(tab, document.url, deadline, report)
            finally:
                await context.close()
        if report.skipped or report.fallback:
            log.info("render capped", **report.as_data())
        if html is None:
            return document, report
        return (
            Page(
                url=document.url,
                status=document.status,
                content_type="text/html",
                charset="utf-8",
                body=html.encode(),
                redirects=document.redirects,
                blocked=blocked,
            ),
            report,
        )

    @contextlib.asynccontextmanager
    async def _tab(self, deadline: float) -> AsyncIterator[None]:
        """One of the browser's tabs, waited for only while a render could still finish in time."""
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic() - _MIN_RENDER_S)):
                await self._slots.acquire()
        except TimeoutError:
            raise AgentFailure(
                ErrorCode.RATE_LIMITED,
                "this agent instance is busy rendering other pages; try again shortly (or without render_js)",
                retryable=True,
            ) from None
        try:
            yield
        finally:
            self._slots.release()

    async def _load(self, tab: Any, url: str, deadline: float, report: RenderReport) -> str | None:
        """The rendered HTML, or None (report.fallback says why) when only the served page can be shown."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        crashed = asyncio.Event()
        tab.on("crash", lambda _: crashed.set())
        remaining_ms = max(1.0, deadline - time.monotonic()) * 1000
        try:
            await tab.goto(url, wait_until="load", timeout=remaining_ms)
        except PlaywrightTimeout:
            raise AgentFailure(
                ErrorCode.TIMEOUT,
                f"the page did not finish loading in the browser within {self.caps.timeout_s:g}s "
                "(limit SPOTRUN_SCRAPER_RENDER_TIMEOUT_S) — try without render_js",
                retryable=False,
                source="upstream",  # the page's scripts were slow, not the agent
            ) from None
        except PlaywrightError as exc:
            if crashed.is_set():
                report.fallback = self._crash_note()
                return None
            raise AgentFailure(
                ErrorCode.FETCH_FAILED,
                f"the browser could not load the page: {str(exc).splitlines()[0]}",
                source="upstream",
            ) from None
        # Late XHR-filled content: give the network a moment to go quiet, within the budget.
        with contextlib.suppress(PlaywrightTimeout):
            idle_ms = min(3000.0, max(0.0, deadline - time.monotonic() - 1) * 1000)
            if idle_ms > 0:
                await tab.wait_for_load_state("networkidle", timeout=idle_ms)
        try:
            # Measured inside the page first: a DOM past the cap never crosses into this process.
            size = int(await tab.evaluate("() => document.documentElement.outerHTML.length"))
            if size > self.caps.max_dom_bytes:
                report.fallback = (
                    f"the rendered page is larger than {self.caps.max_dom_bytes / 2**20:g} MB "
                    "(limit SPOTRUN_SCRAPER_RENDER_MAX_DOM_MB); showing the page as served"
                )
                return None
            return str(await tab.content())
        except PlaywrightError:
            if crashed.is_set():
                report.fallback = self._crash_note()
                return None
            raise

    def _crash_note(self) -> str:
        return (
            f"the page's scripts needed more than {self.caps.js_heap_mb} MB (limit "
            "SPOTRUN_SCRAPER_RENDER_JS_HEAP_MB) and the browser tab stopped; showing the page as served"
        )

    async def _route(
        self, route: Any, document: Page, deadline: float, blocked: list[str], budget: Budget
    ) -> None:
        request = route.request
        is_top = request.is_navigation_request() and request.frame.parent_frame is None
        if is_top and request.url.rstrip("/") == document.url.rstrip("/"):
            charset = document.charset or "utf-8"
            await route.fulfill(status=200, body=document.body, content_type=f"text/html; charset={charset}")
            return
        if request.resource_type in _SKIPPED_RESOURCES or request.method not in ("GET", "HEAD"):
            await route.abort("blockedbyclient")
            return
        if not budget.admit():
            await route.abort("blockedbyclient")
            return
        try:
            async with budget.parallel:
                sub = await self.fetcher.fetch(
                    request.url, deadline - time.monotonic(), any_type=True, max_bytes=budget.room()
                )
        except AgentFailure as exc:
            if exc.code is ErrorCode.PAYLOAD_TOO_LARGE:  # counted in the render's summary log
                budget.too_big()
            else:
                log.info("render subrequest refused", url=request.url[:200], reason=exc.message[:200])
            if exc.code is ErrorCode.BLOCKED_URL:
                blocked.append(request.url[:200])
            await route.abort("blockedbyclient")
            return
        if not budget.take(sub.size):
            await route.abort("blockedbyclient")
            return
        await route.fulfill(status=sub.status, body=sub.body, content_type=sub.content_type or None)

    async def close(self) -> None:
        if self._browser is not None:
            from playwright.async_api import Error as PlaywrightError

            with contextlib.suppress(PlaywrightError):  # already gone: nothing to close
                await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()
