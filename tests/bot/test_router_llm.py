"""The optional LLM router against a loopback OpenAI-compatible provider: tools generated from the
manifests' schemas, answers checked by the typed models, cost from the usage, and the offline router
whenever the provider fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bot.router import FileInfo, LlmRouter, OfflineRouter, Routable, RouterSettings
from bot.router.llm import tools_for
from spotrun.protocol import COMMANDS
from tests.fakes.openai_chat import FakeOpenAIChat
from tests.helpers import serve

SALES = FileInfo("sales.csv", "text/csv", 100, ("month", "revenue", "cost"))


def builtins() -> list[Routable]:
    return [Routable(s, s.args.model_json_schema()) for s in COMMANDS.values()]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeOpenAIChat, str]]:
    provider = FakeOpenAIChat()
    async with serve(provider.app()) as url:
        yield provider, url


@pytest.fixture
async def router(fake: tuple[FakeOpenAIChat, str]) -> AsyncIterator[LlmRouter]:
    provider, url = fake
    settings = RouterSettings(
        provider="openai", base_url=f"{url}/v1", api_key=provider.api_key, timeout_s=1.0, model="fake-mini"
    )
    async with aiohttp.ClientSession() as session:
        commands = builtins()
        yield LlmRouter(commands, settings, session, OfflineRouter(commands))


def test_tools_come_from_the_manifests_schemas() -> None:
    tools = {t["function"]["name"]: t["function"] for t in tools_for(builtins())}
    assert set(tools) == set(COMMANDS)
    chart = tools["chart"]["parameters"]
    assert chart["properties"]["kind"]["enum"] == ["line", "bar", "histogram", "scatter"]
    assert "x-words" not in str(chart) and "x-kind" not in str(chart)  # the offline router's hints
    assert tools["scrape"]["parameters"]["required"] == ["url"]
    assert "CSV" in tools["chart"]["description"]  # it says what it reads


async def test_a_tool_call_becomes_a_checked_reading_with_its_cost(
    fake: tuple[FakeOpenAIChat, str], router: LlmRouter
) -> None:
    provider, _ = fake
    provider.answer = lambda body: ("chart", {"kind": "bar", "x": "month", "y": ["revenue"]})
    d = await router.route("barras de receita por mês, por favor", [SALES])
    assert d.outcome == "run" and d.router == "llm:fake-mini"
    assert d.top is not None and d.top.line == "!chart bar x=month y=revenue"
    sent = provider.requests[-1]
    assert sent["model"] == "fake-mini" and len(sent["tools"]) == len(COMMANDS)
    assert "columns: month, revenue, cost" in sent["messages"][-1]["content"]
    # usage × the configured prices ($0.15 and $0.60 per million tokens by default)
    assert 0 < d.cost_usd < 0.01


async def test_the_typed_model_refuses_what_the_model_invented(
    fake: tuple[FakeOpenAIChat, str], router: LlmRouter
) -> None:
    provider, _ = fake
    provider.answer = lambda body: ("chart", {"kind": "pie"})
    d = await router.route("pie chart please", [SALES])
    assert d.outcome == "need" and d.top is not None and "kind" in (d.top.problem or "")


async def test_no_tool_is_no_match_and_two_are_a_choice(
    fake: tuple[FakeOpenAIChat, str], router: LlmRouter
) -> None:
    provider, _ = fake
    provider.answer = lambda body: None
    assert (await router.route("tell me a joke")).outcome == "none"
    provider.answer = lambda body: [
        ("chart", {"kind": "line", "y": ["cost"]}),
        ("predict", {"column": "cost"}),
    ]
    d = await router.route("trend of cost", [SALES])
    assert d.outcome == "choose" and [r.command for r in d.readings] == ["chart", "predict"]


@pytest.mark.parametrize("mode", ["500", "429", "slow", "garbage", "unknown-tool"])
async def test_any_provider_failure_falls_back_to_the_offline_router(
    fake: tuple[FakeOpenAIChat, str], router: LlmRouter, mode: str
) -> None:
    provider, _ = fake
    provider.mode = mode
    provider.slow_s = 3.0  # past the router's 1 s timeout
    d = await router.route("make a bar chart of revenue by month", [SALES])
    assert d.router == "offline" and d.note.startswith("fallback:")
    assert d.outcome == "run" and d.top is not None and d.top.line == "!chart bar x=month y=revenue"
    assert d.cost_usd == 0


async def test_a_typed_command_costs_no_provider_call(
    fake: tuple[FakeOpenAIChat, str], router: LlmRouter
) -> None:
    provider, _ = fake
    d = await router.route("!chart histogram y=cost", [SALES])
    assert d.outcome == "run" and provider.requests == []


def test_a_provider_without_its_key_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="SPOTRUN_ROUTER_API_KEY"):
        RouterSettings(provider="openai")
    with pytest.raises(ValidationError, match="SPOTRUN_ROUTER_VERTEX_PROJECT"):
        RouterSettings(provider="vertex")


def test_the_vertex_endpoint_is_gemini_behind_openai_compatible_chat() -> None:
    settings = RouterSettings(provider="vertex", vertex_project="p1", vertex_location="europe-west4")

    async def token() -> str:
        return "t"

    router: Any = LlmRouter(builtins(), settings, None, OfflineRouter(builtins()), token=token)  # type: ignore[arg-type]
    assert router._url() == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p1/locations/europe-west4"
        "/endpoints/openapi/chat/completions"
    )
