"""The client honours the agent's verdict: what is retried and what counts against the breaker,
through real agents (web scraper, image-gen, the shared runtime) on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from agent_client import (
    AgentClient,
    AgentError,
    AgentRegistry,
    AgentRejected,
    AgentUnavailable,
    BreakerState,
)
from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app
from spotrun.protocol import (
    AgentRequest,
    CallerContext,
    Command,
    GenerateArgs,
    ScrapeArgs,
)
from tests.agent_client.conftest import Script, registry, scripted_app, tts_request
from tests.agents.test_image_gen_support import fake, image_agent
from tests.agents.test_web_scraper_site import HITS, make_site, running_agent
from tests.fakes.openai_images import FakeOpenAIImages
from tests.helpers import serve

pytestmark = pytest.mark.timeout(60)

# The production defaults of AgentConfig: 2 retries, breaker opens after 5 failed attempts.
PRODUCTION = {"retries": 2, "breaker_failures": 5, "breaker_cooldown_s": 30}


def one_agent(name: str, url: str, commands: list[str]) -> AgentRegistry:
    agent = {
        "name": name,
        "base_url": url,
        "auth": "none",
        "commands": commands,
        "timeout_s": 20,
        **PRODUCTION,
    }
    return AgentRegistry.from_data({"agents": [agent]})


def scrape(url: str, user: str, n: int = 0) -> AgentRequest:
    return AgentRequest(
        job_id=f"job-{user}-{n}",
        command=Command.SCRAPE,
        args=ScrapeArgs(url=url),
        context=CallerContext(user_id=user, guild_id="7", channel_id="9"),
    )


@pytest.fixture
async def site() -> AsyncIterator[tuple[str, list[str]]]:
    app = make_site()
    async with serve(app) as base:
        yield base, app[HITS]


async def test_twenty_bad_urls_from_one_user_leave_the_breaker_closed_for_the_next(
    site: tuple[str, list[str]], make_client: Any
) -> None:
    base, hits = site
    # Loopback pages need private addresses opened; nohost.invalid never resolves anywhere.
    async with running_agent(allow_private_networks=True) as agent:
        client: AgentClient = make_client(one_agent("web-scraper", agent, ["scrape"]))
        bad = [f"{base}/pages/no_such_page_{i}" for i in range(10)] + [
            f"http://nohost{i}.invalid/page" for i in range(10)
        ]
        for n, url in enumerate(bad):
            with pytest.raises(AgentRejected) as err:
                await client.call(scrape(url, "user-a", n))
            assert err.value.code == "fetch_failed" and not err.value.retryable
            assert err.value.source == "input", err.value
        # Each bad page was asked for once: a 404 is the input's fault, never worth a retry.
        for i in range(10):
            assert hits.count(f"/pages/no_such_page_{i}") == 1, hits
        assert client.breaker_state("web-scraper") is BreakerState.CLOSED
        started = time.monotonic()
        result = await client.call(scrape(f"{base}/pages/news_article", "user-b"))
        assert result.title == "Harbour town votes to rebuild its tidal pool"
        assert time.monotonic() - started < 5
        assert client.breaker_state("web-scraper") is BreakerState.CLOSED


async def test_a_site_answering_503_is_the_sites_fault_not_the_agents(make_client: Any) -> None:
    calls: list[str] = []

    async def down(request: web.Request) -> web.Response:
        calls.append(request.path)
        return web.Response(status=503, text="maintenance")

    app = web.Application()
    app.router.add_get("/{tail:.*}", down)
    async with serve(app) as base, running_agent(allow_private_networks=True) as agent:
        client: AgentClient = make_client(one_agent("web-scraper", agent, ["scrape"]))
        for n in range(8):
            with pytest.raises(AgentUnavailable) as err:
                await client.call(scrape(f"{base}/p{n}", "user-a", n))
            assert err.value.source == "upstream" and not err.value.retryable
        assert len(calls) == 8, calls  # tried once each: retrying hammers a site that says it is down
        assert client.breaker_state("web-scraper") is BreakerState.CLOSED


async def test_a_provider_refusal_is_sent_to_the_provider_once(make_client: Any) -> None:
    provider = FakeOpenAIImages()
    provider.mode = "400"
    settings = {"provider": "openai", "openai_api_key": provider.api_key}
    async with fake(provider) as base, image_agent(**settings, openai_base_url=base) as agent:
        client: AgentClient = make_client(one_agent("image-gen", agent, ["generate"]))
        for n in range(6):
            request = AgentRequest(
                job_id=f"gen-{n}",
                command=Command.GENERATE,
                args=GenerateArgs(prompt="a lighthouse"),
                context=CallerContext(user_id="user-a"),
            )
            with pytest.raises(AgentError) as err:
                await client.call(request)
            assert err.value.code == "provider_error" and not err.value.retryable
        assert len(provider.requests) == 6, len(provider.requests)
        assert client.breaker_state("image-gen") is BreakerState.CLOSED


async def test_a_provider_server_error_is_retried_but_never_opens_our_breaker(make_client: Any) -> None:
    provider = FakeOpenAIImages()
    provider.mode = "500"
    settings = {"provider": "openai", "openai_api_key": provider.api_key}
    async with fake(provider) as base, image_agent(**settings, openai_base_url=base) as agent:
        client: AgentClient = make_client(
            one_agent("image-gen", agent, ["generate"]), backoff_initial_s=0.01, backoff_max_s=0.02
        )
        for n in range(4):
            request = AgentRequest(
                job_id=f"gen-{n}",
                command=Command.GENERATE,
                args=GenerateArgs(prompt="a lighthouse"),
                context=CallerContext(user_id="user-a"),
            )
            with pytest.raises(AgentUnavailable) as err:
                await client.call(request)
            assert err.value.source == "upstream" and err.value.retryable
        # Retried (the provider may recover) but the agent answered every time: it is healthy.
        assert client.breaker_state("image-gen") is BreakerState.CLOSED
        assert len(provider.requests) > 4


async def test_a_poison_input_that_crashes_the_handler_runs_once(make_client: Any) -> None:
    runs: list[str] = []

    async def crash(job: Job) -> Output:
        runs.append(job.request.job_id)
        raise RecursionError("maximum recursion depth exceeded")

    app = create_agent_app(AgentSpec("audio-video", {Command.TTS: crash}), AgentSettings(auth="none"))
    async with serve(app) as url:
        client: AgentClient = make_client(registry(url, retries=2, breaker_failures=5))
        with pytest.raises(AgentUnavailable) as err:
            await client.call(tts_request("poison-1"))
        assert err.value.status == 500 and err.value.code == "internal" and not err.value.retryable
        assert runs == ["poison-1"]
        # It counts once against the breaker: a crash is the agent's own failure.
        assert client.breaker("audio-video").consecutive_failures == 1


async def test_a_front_end_502_page_without_a_body_is_retried_and_counted(
    agent: Any, make_client: Any
) -> None:
    script, url = agent
    script.answers = ["proxy-502", "proxy-502", 200]
    client: AgentClient = make_client(registry(url, breaker_failures=5))
    assert (await client.call(tts_request())).text == "ok"
    assert len(script.seen) == 3
    script.answers = ["proxy-502"]
    with pytest.raises(AgentUnavailable) as err:
        await client.call(tts_request("job-2"))
    assert err.value.status == 502 and err.value.retryable and err.value.source == "agent"
    assert client.breaker("audio-video").consecutive_failures == 3


async def test_a_persistent_503_is_retried_and_opens_the_breaker(agent: Any, make_client: Any) -> None:
    script, url = agent
    script.answers = [503]
    client: AgentClient = make_client(registry(url, retries=2, breaker_failures=3))
    with pytest.raises(AgentUnavailable):
        await client.call(tts_request())
    assert len(script.seen) == 3
    assert client.breaker_state("audio-video") is BreakerState.OPEN


async def test_the_agents_verdict_wins_over_the_status(make_client: Any) -> None:
    # An agent may say a 503 is not worth retrying, and that a 502 is a third party's fault.
    script = Script(answers=["verdict"])
    async with serve(scripted_app(script)) as url:
        client: AgentClient = make_client(registry(url, retries=2, breaker_failures=2))
        for n in range(3):
            with pytest.raises(AgentUnavailable) as err:
                await client.call(tts_request(f"job-{n}"))
            assert not err.value.retryable
        assert len(script.seen) == 3
        assert client.breaker_state("audio-video") is BreakerState.CLOSED
