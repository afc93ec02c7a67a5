"""The web-scraper agent over HTTP against a loopback site: scrape, extract, redirects, limits."""

from __future__ import annotations

import base64

import pytest

from tests.agents.test_web_scraper_site import HITS, make_site, running_agent
from tests.agents.test_web_scraper_site import call as _call
from tests.helpers import serve

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def site():
    app = make_site()
    async with serve(app) as base:
        yield base, app[HITS]


@pytest.fixture
async def agent():
    # Loopback pages need private addresses opened: the unsafe development setting.
    async with running_agent(allow_private_networks=True, max_body_mb=1.0) as base:
        yield base


async def test_scrape_returns_title_metadata_and_main_text(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/pages/news_article"})
    assert status == 200, body
    data = body["data"]
    assert body["title"] == "Harbour town votes to rebuild its tidal pool"
    assert data["author"] == "Maya Penrose"
    assert data["date"].startswith("2024-03-14")
    assert data["language"] == "en-GB"
    assert data["description"].startswith("Residents of Porthmere backed a plan")
    assert data["links"] > 20
    assert data["url"] == f"{base}/pages/news_article"
    text = body["text"]
    assert "borrow £1.2m to restore the 1930s pool" in text
    assert "What happens next" in text
    # Boilerplate stays out: cookie banner, nav, ads, related links, comments, newsletter, footer.
    for junk in (
        "We use cookies",
        "Advertisement",
        "Related stories",
        "seaswimmer62",
        "About time!",
        "Get the Herald",
        "All rights reserved",
        "Share on Facebook",
        "Read more: Storm",
    ):
        assert junk not in text, junk
    assert 0 < len(data["excerpt"]) <= 301 and text.startswith(data["excerpt"][:40])
    assert data["word_count"] == len(text.split())
    assert data["fingerprint"].startswith("sha256:")
    names = {f["name"]: f["value"] for f in body["fields"]}
    assert names["Author"] == "Maya Penrose" and names["Published"] == "2024-03-14"
    assert names["Language"] == "en-GB"
    assert "Excerpt" not in names  # the text itself is shown; an excerpt of it would repeat it


async def test_scrape_non_english_page_keeps_language_and_umlauts(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/pages/non_english"})
    assert status == 200, body
    assert body["data"]["language"] == "de-DE"
    assert "Bürgermeister von Lechbruck" in body["text"]
    assert "Alle akzeptieren" not in body["text"] and "Endlich!" not in body["text"]


async def test_redirects_are_followed_and_reported(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/r/r1"})
    assert status == 200, body
    assert body["data"]["url"] == f"{base}/pages/news_article"
    assert body["data"]["redirects"] == [f"{base}/r/r1", f"{base}/r/r2"]
    assert any(f["name"] == "Final URL" for f in body["fields"])


async def test_redirect_loop_is_a_clear_fetch_failure(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/r/loop"})
    assert status == 502 and body["error"]["code"] == "fetch_failed"
    assert "redirected more than 5 times" in body["error"]["message"]


async def test_fingerprint_ignores_cosmetic_changes_but_not_body_changes(site, agent):
    base, _ = site
    prints = {}
    for version in ("v1", "v2", "v3"):
        status, body = await _call(agent, "scrape", {"url": f"{base}/v/{version}"})
        assert status == 200, body
        assert "longer opening hours" in body["text"] and "Bob's Tyres" not in body["text"]
        prints[version] = body["data"]["fingerprint"]
    assert prints["v1"] == prints["v2"], "whitespace, ads and sidebar dates changed the fingerprint"
    assert prints["v1"] != prints["v3"], "a changed article body kept the same fingerprint"


async def test_oversized_body_is_refused_and_agent_keeps_serving(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/big"})
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert "larger than the 1 MB limit" in body["error"]["message"]
    status, body = await _call(agent, "scrape", {"url": f"{base}/pages/short_page"})
    assert status == 200 and "closed on Friday 5 April" in body["text"]


async def test_non_html_is_refused_clearly(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/doc.pdf"})
    assert status == 415 and body["error"]["code"] == "unsupported_media"
    assert "application/pdf, not a web page" in body["error"]["message"]


async def test_plain_text_is_its_own_main_text(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/notes.txt"})
    assert status == 200, body
    assert "Version 2.1 fixes the login bug." in body["text"]
    assert body["title"] == "Release notes"


async def test_http_error_status_is_a_fetch_failure(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/pages/missing"})
    assert status == 502 and body["error"]["code"] == "fetch_failed"
    assert "404" in body["error"]["message"]


async def test_render_js_request_when_disabled_warns_how_to_enable(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/pages/short_page", "render_js": True})
    assert status == 200, body
    assert any("SPOTRUN_SCRAPER_RENDER_JS=true" in w for w in body["warnings"])
    assert body["data"]["rendered"] is False


async def test_long_main_text_comes_whole_as_an_attachment_with_a_short_embed(site):
    base, _ = site
    async with running_agent(allow_private_networks=True, max_body_mb=8.0) as agent:
        status, body = await _call(agent, "scrape", {"url": f"{base}/big"})
    assert status == 200, body
    # The embed stays one Discord description long; the whole text is in the attached file.
    assert len(body["text"]) <= 4096
    assert "full text" in body["text"] and ".txt" in body["text"]
    [file] = body["files"]
    assert file["name"].endswith(".txt") and file["content_type"].startswith("text/plain")
    full = base64.b64decode(file["data"]).decode()
    assert "Paragraph 0 " in full and "Paragraph 399 " in full  # first and last of the page
    assert len(full) > 2_500_000 and body["data"]["word_count"] > 300_000
    assert body["data"]["truncated"] is True and body["data"]["attachment"] == file["name"]


async def test_short_main_text_has_no_attachment(site, agent):
    base, _ = site
    status, body = await _call(agent, "scrape", {"url": f"{base}/pages/news_article"})
    assert status == 200, body
    assert body["files"] == [] and body["data"]["truncated"] is False


# ------------------------------------------------------------------------------ extract


async def test_extract_text_of_matching_elements(site, agent):
    base, _ = site
    status, body = await _call(
        agent, "extract", {"url": f"{base}/pages/news_article", "selector": "article h2"}
    )
    assert status == 200, body
    assert body["data"]["values"] == ["A design that lets the sea do the work", "What happens next"]
    assert body["data"]["matches"] == 2
    assert "1. A design that lets the sea do the work" in body["text"]


async def test_extract_attribute_resolves_urls_and_respects_limit(site, agent):
    base, _ = site
    status, body = await _call(
        agent,
        "extract",
        {"url": f"{base}/pages/news_article", "selector": "nav.main-nav a", "attribute": "href", "limit": 3},
    )
    assert status == 200, body
    assert body["data"]["values"] == [f"{base}/news", f"{base}/sport", f"{base}/business"]
    assert body["data"]["matches"] == 6 and body["data"]["truncated"] is True
    assert any("showing 3 of 6 matches" in w for w in body["warnings"])


async def test_extract_total_character_cap(site):
    base, _ = site
    async with running_agent(allow_private_networks=True, extract_max_chars=200) as agent:
        status, body = await _call(agent, "extract", {"url": f"{base}/pages/news_article", "selector": "p"})
    assert status == 200, body
    assert sum(len(v) for v in body["data"]["values"]) <= 200
    assert body["data"]["truncated"] is True


async def test_extract_zero_matches_is_a_successful_answer(site, agent):
    base, _ = site
    status, body = await _call(
        agent, "extract", {"url": f"{base}/pages/short_page", "selector": "table.prices td"}
    )
    assert status == 200, body
    assert body["data"]["matches"] == 0 and body["title"] == "Nothing matched"
    assert "table.prices td" in body["text"]


async def test_extract_invalid_selector_fails_before_fetching(site, agent):
    base, hits = site
    status, body = await _call(
        agent, "extract", {"url": f"{base}/pages/short_page", "selector": "div[class="}
    )
    assert status == 422 and body["error"]["code"] == "invalid_argument"
    assert "not a valid CSS selector" in body["error"]["message"]
    assert hits == [], "the page was fetched for a selector that could never match"
