"""Drill: one user's bad URLs stay that user's problem. Twenty `!scrape`s of pages that 404 and hosts
that do not resolve, through the emulator, the real bot and the real scraper (SSRF guard on, only
127.0.0.1/32 opened for the loopback site); then another user's good `!scrape` is answered at once."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.common.settings import AgentSettings
from agents.web_scraper.app import build
from agents.web_scraper.settings import ScraperSettings
from tests.agents.test_web_scraper_site import HITS, make_site
from tests.drills.conftest import FIRST_USER
from tests.drills.test_bad_inputs import answer_to
from tests.fakes.discord import DiscordEmulator
from tests.helpers import serve

pytestmark = pytest.mark.timeout(120)

MALLORY, BOB = FIRST_USER + 70, FIRST_USER + 71
BREAKER_TEXT = "agent is failing; try again"


async def answers(emu: DiscordEmulator, origins: list[int], within_s: float) -> dict[int, Any]:
    deadline = time.monotonic() + within_s
    found: dict[int, Any] = {}
    while len(found) < len(origins) and time.monotonic() < deadline:
        for origin in origins:
            if origin not in found and (a := answer_to(emu, origin)) is not None:
                found[origin] = a
        await asyncio.sleep(0.1)
    return found


async def test_twenty_bad_urls_from_one_user_then_another_users_scrape_works(
    emu: DiscordEmulator, start_bot_with: Any, tmp_path: Path
) -> None:
    emu.add_user(MALLORY, "mallory")
    emu.add_user(BOB, "bob")
    site = make_site()
    scraper = build(
        AgentSettings(auth="none"),
        ScraperSettings(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),)),
    )
    async with serve(site) as base, serve(scraper) as scraper_url:
        # The registry's production defaults: 2 retries, the breaker opens after 5 failed attempts.
        agent = {
            "name": "web-scraper",
            "base_url": scraper_url,
            "auth": "none",
            "commands": ["scrape", "extract"],
        }
        registry = tmp_path / "agents.yaml"
        registry.write_text(yaml.safe_dump({"agents": [agent]}))
        running = await start_bot_with(registry, MAX_RUNNING_PER_USER="4", MAX_QUEUED_PER_USER="40")
        try:
            bad = [f"{base}/pages/missing_{i}" for i in range(10)]
            bad += [f"http://nohost{i}.invalid/" for i in range(10)]
            started = time.monotonic()
            origins = [emu.user_says(MALLORY, f"!scrape {url}") for url in bad]
            got = await answers(emu, origins, within_s=60)
            bad_s = time.monotonic() - started
            assert len(got) == len(origins), f"{len(origins) - len(got)} bad URLs got no answer"
            for origin, url in zip(origins, bad, strict=True):
                reply = got[origin].text()
                assert "could not be fetched" in reply, f"{url} answered {reply[:300]!r}"
                assert BREAKER_TEXT not in reply
            assert "check the URL" in got[origins[0]].text()  # the 404: the user is told what to fix
            assert "does not exist" in got[origins[-1]].text()  # the host: named, not "try later"
            for i in range(10):  # a 404 is never worth another request to the site
                assert site[HITS].count(f"/pages/missing_{i}") == 1, site[HITS]

            started = time.monotonic()
            good = emu.user_says(BOB, f"!scrape {base}/pages/news_article")
            reply = (await answers(emu, [good], within_s=30)).get(good)
            elapsed = time.monotonic() - started
            assert reply is not None, "bob's scrape got no answer"
            assert "Harbour town votes to rebuild its tidal pool" in reply.text(), reply.text()[:300]
            assert elapsed < 10, f"bob waited {elapsed:.1f}s"
            breaker = running.core.client.breaker("web-scraper")
            assert breaker.state == "closed" and breaker.consecutive_failures == 0
            print(
                f"\n[bad-urls] 20 bad URLs answered in {bad_s:.1f}s, {len(site[HITS])} requests to the site; "
                f"bob's scrape answered {elapsed:.2f}s after; breaker {breaker.state}"
            )
        finally:
            await running.stop()
