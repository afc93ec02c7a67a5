"""Optional JavaScript rendering on the system Chromium, with every request routed through the guard.

Chromium never touches the network itself: each request the page makes is intercepted and
either answered by the guarded `Fetcher` (same SSRF rules, same DNS pinning) or aborted. As a
second wall, Chromium is pointed at a dead proxy, so anything that escapes interception fails.
Playwright is imported on first use only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
from pathlib import Path
from typing import Any

from agents.common import AgentFailure
from agents.web_scraper.fetch import Fetcher, Page
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

    def __init__(self, fetcher: Fetcher, chromium_path: str, timeout_s: float, concurrency: int) -> None:
        self.fetcher = fetcher
        self.chromium_path = chromium_path
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self._launch_lock = asyncio.Lock()
        self._playwright: Any = None
        self._browser: Any = None

    async def _browser_ready(self) -> Any:
        async with self._launch_lock:
            if self._browser is None or not self._browser.is_connected():
                from playwright.async_api import Error as PlaywrightError
                from playwright.async_api import async_playwright

                try:
                    if self._playwright is None:
                        self._playwright = await async_playwright().start()
                    self._browser = await self._playwright.chromium.launch(
                        executable_path=self.chromium_path, args=CHROMIUM_ARGS, headless=True
                    )
                except PlaywrightError as exc:
                    raise AgentFailure(
                        ErrorCode.ENGINE_UNAVAILABLE,
                        f"Chromium could not start ({str(exc).splitlines()[0]}) — scrape without "
                        "render_js=true, or check the chromium install",
                    ) from None
            return self._browser

    async def render(self, page_url: str, budget_s: float) -> Page:
        """The page's HTML after its scripts ran; the document itself is fetched by the guard."""
        deadline = time.monotonic() + min(budget_s, self.timeout_s)
        document = await self.fetcher.fetch(page_url, deadline - time.monotonic())
        blocked: list[str] = []
        async with self._slots:
            browser = await self._browser_ready()
            context = await browser.new_context(
                service_workers="block", java_script_enabled=True, user_agent=None, accept_downloads=False
            )
            try:
                tab = await context.new_page()
                await tab.route("**/*", lambda route: self._route(route, document, deadline, blocked))
                await tab.route_web_socket("**/*", lambda ws: ws.close())
                html = await self._load(tab, document.url, deadline)
            finally:
                await context.close()
        return Page(
            url=document.url,
            status=document.status,
            content_type="text/html",
            charset="utf-8",
            body=html.encode(),
            redirects=document.redirects,
            blocked=blocked,
        )

    async def _load(self, tab: Any, url: str, deadline: float) -> str:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        remaining_ms = max(1.0, deadline - time.monotonic()) * 1000
        try:
            await tab.goto(url, wait_until="load", timeout=remaining_ms)
        except PlaywrightTimeout:
            raise AgentFailure(
                ErrorCode.TIMEOUT,
                "the page did not finish loading in the browser in time — try without render_js",
                retryable=False,
                source="upstream",  # the page's scripts were slow, not the agent
            ) from None
        except PlaywrightError as exc:
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
        return str(await tab.content())

    async def _route(self, route: Any, document: Page, deadline: float, blocked: list[str]) -> None:
        request = route.request
        is_top = request.is_navigation_request() and request.frame.parent_frame is None
        if is_top and request.url.rstrip("/") == document.url.rstrip("/"):
            charset = document.charset or "utf-8"
            await route.fulfill(status=200, body=document.body, content_type=f"text/html; charset={charset}")
            return
        if request.resource_type in _SKIPPED_RESOURCES or request.method not in ("GET", "HEAD"):
            await route.abort("blockedbyclient")
            return
        try:
            sub = await self.fetcher.fetch(request.url, deadline - time.monotonic(), any_type=True)
        except AgentFailure as exc:
            log.info("render subrequest refused", url=request.url[:200], reason=exc.message[:200])
            if exc.code is ErrorCode.BLOCKED_URL:
                blocked.append(request.url[:200])
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
