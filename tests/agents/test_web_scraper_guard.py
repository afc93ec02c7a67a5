"""The SSRF guard: address policy, the pinning resolver, and attacks through the real agent."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from agents.web_scraper.guard import AddressPolicy, BlockedUrl, GuardedResolver
from tests.agents.test_web_scraper_site import HITS, make_site, running_agent
from tests.agents.test_web_scraper_site import call as _call
from tests.helpers import serve

pytestmark = pytest.mark.timeout(60)

STRICT = AddressPolicy()


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "127.9.9.9",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.251",
        "240.0.0.1",
        "100.64.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::1",
        "64:ff9b::a9fe:a9fe",
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo wrapping 10.0.0.1
    ],
)
def test_policy_refuses_non_public_addresses(address):
    assert STRICT.refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_policy_allows_public_addresses(address):
    assert STRICT.refusal(address) is None


def test_allow_private_never_opens_link_local_metadata():
    dev = AddressPolicy(allow_private=True)
    assert dev.refusal("10.0.0.1") is None and dev.refusal("127.0.0.1") is None
    assert "link-local" in (dev.refusal("169.254.169.254") or "")
    assert dev.refusal("::ffff:169.254.169.254") is not None


class _RebindingDns(AbstractResolver):
    """A DNS boundary fake: first answer public, every later one private (a rebinding attack)."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls += 1
        ip = "93.184.216.34" if self.calls == 1 else "10.0.0.7"
        return [ResolveResult(hostname=host, host=ip, port=port, family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        pass


async def test_resolver_vets_every_resolution_against_rebinding():
    resolver = GuardedResolver(STRICT, inner=_RebindingDns())
    first = await resolver.resolve("rebind.example", 80)
    assert [r["host"] for r in first] == ["93.184.216.34"]
    with pytest.raises(BlockedUrl, match=r"rebind.example resolves to 10\.0\.0\.7"):
        await resolver.resolve("rebind.example", 80)


# ---------------------------------------------------------------- attacks through the agent


@pytest.fixture
async def site():
    app = make_site()
    async with serve(app) as base:
        yield base, app[HITS]


@pytest.fixture
async def strict_agent():
    async with running_agent() as base:  # production defaults: guard on
        yield base


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/", "10.0.0.1 is not a public address (private)"),
        ("http://192.168.1.1/admin", "192.168.1.1 is not a public address (private)"),
        ("http://169.254.169.254/computeMetadata/v1/", "link-local"),
        ("http://[::1]/", "::1 is not a public address (loopback)"),
        ("http://[::ffff:7f00:1]:80/", "127.0.0.1 is not a public address (loopback)"),
        ("http://0.0.0.0:80/", "unspecified"),
    ],
)
async def test_private_targets_are_blocked(strict_agent, url, reason):
    status, body = await _call(strict_agent, "scrape", {"url": url})
    assert status == 422 and body["error"]["code"] == "blocked_url", body
    assert reason in body["error"]["message"]
    assert "only public web pages can be scraped" in body["error"]["message"]


async def test_hostname_resolving_to_loopback_is_blocked_without_connecting(site, strict_agent):
    base, hits = site
    port = base.rsplit(":", 1)[1]
    for url in (f"http://localhost:{port}/pages/short_page", f"{base}/pages/short_page"):
        status, body = await _call(strict_agent, "scrape", {"url": url})
        assert status == 422 and body["error"]["code"] == "blocked_url", body
        assert "loopback" in body["error"]["message"]
    status, body = await _call(strict_agent, "extract", {"url": f"http://localhost:{port}/", "selector": "a"})
    assert status == 422 and body["error"]["code"] == "blocked_url"
    assert hits == [], "the guard let a request reach a loopback server"


async def test_file_urls_are_rejected(strict_agent):
    status, body = await _call(strict_agent, "scrape", {"url": "file:///etc/passwd"})
    assert status == 422 and body["error"]["code"] in ("invalid_argument", "blocked_url")
    assert "http" in body["error"]["message"]


async def test_redirect_from_allowed_page_into_private_ip_is_blocked(site):
    base, hits = site
    # Guard on, with only this test server's address exempted (as for an internal wiki).
    async with running_agent(allowed_networks=["127.0.0.1/32"]) as agent:
        status, body = await _call(agent, "scrape", {"url": f"{base}/pages/short_page"})
        assert status == 200, body  # the exemption works
        for hop, reason in (("private", "10.0.0.1"), ("metadata", "169.254.169.254"), ("file", "file")):
            status, body = await _call(agent, "scrape", {"url": f"{base}/r/{hop}"})
            assert status == 422 and body["error"]["code"] == "blocked_url", body
            assert reason in body["error"]["message"]
        # The agent keeps serving after refusals.
        status, body = await _call(agent, "extract", {"url": f"{base}/pages/news_article", "selector": "h1"})
        assert status == 200 and body["data"]["values"] == ["Harbour town votes to rebuild its tidal pool"]
    assert "/r/private" in hits


async def test_metadata_stays_blocked_even_with_private_networks_allowed(site):
    base, _ = site
    async with running_agent(allow_private_networks=True) as agent:
        status, body = await _call(agent, "scrape", {"url": f"{base}/r/metadata"})
    assert status == 422 and body["error"]["code"] == "blocked_url"
    assert "169.254.169.254" in body["error"]["message"]
