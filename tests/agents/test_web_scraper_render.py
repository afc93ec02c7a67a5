"""JavaScript rendering on the system Chromium, with subrequests held to the SSRF guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agents.test_web_scraper_site import HITS, make_site, running_agent
from tests.agents.test_web_scraper_site import call as _call
from tests.helpers import serve

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]


async def test_rendered_page_shows_script_written_text_and_blocks_private_subrequests():
    site = make_site()
    # Guard on, with only the test server's address exempted: 10.0.0.1 stays refused.
    async with (
        serve(site) as base,
        running_agent(allowed_networks=["127.0.0.1/32"], render_js=True, chromium_path=CHROMIUM) as agent,
    ):
        status, body = await _call(agent, "scrape", {"url": f"{base}/js", "render_js": True})
        assert status == 200, body
        assert body["data"]["rendered"] is True
        assert "written by JavaScript after the page loaded" in body["text"]
        assert body["data"]["blocked_requests"] == ["http://10.0.0.1/steal"]
        # The static page has only "Loading…": the same URL without rendering proves the difference.
        status, plain = await _call(agent, "scrape", {"url": f"{base}/js", "render_js": False})
        assert status == 200 and "written by JavaScript" not in plain["text"]
    # The script came through the guarded fetcher (it hit our server), and the page's
    # fetch("http://10.0.0.1/steal") was refused by the guard rather than attempted.
    assert "/app.js" in site[HITS]
