"""Builds the web-scraper agent app: handlers, engine probes, and the guarded fetcher/renderer."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from agents.common import AgentSettings, AgentSpec, create_agent_app, run_agent
from agents.web_scraper.fetch import FETCHER, fetcher_context
from agents.web_scraper.handlers import RENDERER, SCRAPER_SETTINGS, extract, scrape
from agents.web_scraper.render import Renderer, chromium_status
from agents.web_scraper.render_limits import RenderCaps
from agents.web_scraper.settings import ScraperSettings
from spotrun.config import load_settings
from spotrun.protocol import Command, EngineStatus


def _engines(app: web.Application) -> dict[str, EngineStatus]:
    # find_spec locates a package without importing it: /health stays cheap on a cold start.
    def present(module: str) -> EngineStatus:
        found = importlib.util.find_spec(module) is not None
        return EngineStatus(available=found, detail="installed" if found else f"{module} is not installed")

    settings = app[SCRAPER_SETTINGS]
    chromium, detail = chromium_status(settings.render_js, settings.chromium_path)
    return {
        "selectolax": present("selectolax"),
        "trafilatura": present("trafilatura"),
        "chromium": EngineStatus(available=chromium, detail=detail),
    }


def _renderer_context(settings: ScraperSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        available, _ = chromium_status(settings.render_js, settings.chromium_path)
        renderer = (
            Renderer(
                app[FETCHER],
                settings.chromium_path,
                RenderCaps.from_settings(settings),
                settings.render_concurrency,
            )
            if available
            else None
        )
        app[RENDERER] = renderer
        yield
        if renderer is not None:
            await renderer.close()

    return ctx


# Measured peaks (tests/agents/test_web_scraper_render_caps.py) with margin: the agent with an
# idle Chromium, and what one capped render adds on top.
BASE_MB = 1024.0
HEAVY_RENDER_MB = 512.0


def build(settings: AgentSettings, scraper: ScraperSettings | None = None) -> web.Application:
    scraper = scraper or load_settings(ScraperSettings)
    app = create_agent_app(
        AgentSpec(
            name="web-scraper",
            handlers={Command.SCRAPE: scrape, Command.EXTRACT: extract},
            engines=_engines,
            contexts=(fetcher_context(scraper), _renderer_context(scraper)),
            required_engines=("selectolax",),
            # One render at its caps (docs/reliability.md, "Resource caps"): a Chromium tab, its
            # sub-resources, and the process tree's share; the browser itself is part of base_mb.
            heavy_job_mb=HEAVY_RENDER_MB,
            base_mb=BASE_MB,
        ),
        settings,
    )
    app[SCRAPER_SETTINGS] = scraper
    return app


def main() -> None:
    run_agent(build, "web-scraper")
