"""The bot's command catalog: manifests read live, the last good copy from the store when an
agent is cold or down, and an agent speaking another protocol major refused with a clear line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agent_client import AgentClient, AgentRegistry
from agents.common import AgentSettings
from agents.web_scraper.app import build as build_scraper
from bot.commands.catalog import Catalog
from bot.jobs.store import JobStore
from spotrun.protocol import COMMANDS
from tests.helpers import free_port, serve


def registry(url: str) -> AgentRegistry:
    return AgentRegistry.from_data(
        {
            "agents": [
                {"name": "web-scraper", "base_url": url, "auth": "none", "commands": ["scrape", "extract"]}
            ]
        }
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    s = await JobStore.open(tmp_path / "bot.db")
    yield s
    await s.close()


async def catalog_for(url: str, store: JobStore, session: aiohttp.ClientSession) -> Catalog:
    reg = registry(url)
    catalog = Catalog(reg, AgentClient(reg, session), store, timeout_s=2)
    await catalog.load()
    return catalog


async def test_live_then_stored_when_the_agent_is_down(store: JobStore) -> None:
    async with aiohttp.ClientSession() as session:
        async with serve(build_scraper(AgentSettings(auth="none"))) as url:
            live = await catalog_for(url, store, session)
        assert live.agents["web-scraper"].source == "live"
        assert sorted(live.specs()) == ["extract", "scrape"]
        # The protocol's own model is used for a built-in with an unchanged schema.
        assert live.spec("scrape").args is COMMANDS["scrape"].args  # type: ignore[union-attr]

        # Same store, agent gone (a cold start that fails, an outage): the stored copy serves.
        down = await catalog_for(f"http://127.0.0.1:{free_port()}", store, session)
        state = down.agents["web-scraper"]
        assert state.source == "stored" and sorted(down.specs()) == ["extract", "scrape"]
        assert "stored copy" in state.status_line() and "protocol 1.1" in state.status_line()


async def test_never_seen_and_down_falls_back_to_built_in_commands(store: JobStore) -> None:
    async with aiohttp.ClientSession() as session:
        catalog = await catalog_for(f"http://127.0.0.1:{free_port()}", store, session)
    state = catalog.agents["web-scraper"]
    assert state.source == "built-in" and sorted(catalog.specs()) == ["extract", "scrape"]
    assert "manifest not read yet" in state.status_line()


async def test_an_agent_speaking_another_protocol_major_is_refused(store: JobStore) -> None:
    good = build_scraper(AgentSettings(auth="none"))
    from agents.common import MANIFEST

    future = good[MANIFEST].model_copy(update={"protocol": "2.0"})

    async def manifest(request: web.Request) -> web.Response:
        return web.Response(body=future.model_dump_json(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/manifest", manifest)
    async with aiohttp.ClientSession() as session, serve(app) as url:
        catalog = await catalog_for(url, store, session)
    state = catalog.agents["web-scraper"]
    assert state.refused is not None and catalog.specs() == {}
    line = state.status_line()
    assert line.startswith("✗ refused") and "protocol 2.0" in line and "1.x" in line
    # A refused manifest is not kept as the last good copy.
    assert await store.get_meta("manifest:web-scraper") is None
