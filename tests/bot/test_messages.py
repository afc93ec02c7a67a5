"""Every agent_client error becomes a short, specific sentence for the user."""

from __future__ import annotations

import re

import pytest

from agent_client import (
    AgentBusy,
    AgentError,
    AgentRejected,
    AgentTimeout,
    AgentUnavailable,
    AuthError,
    CircuitOpen,
    ProtocolViolation,
)
from bot.frontends.messages import describe_agent_error
from bot.frontends.render import render_error
from spotrun.protocol import ErrorCode

CASES = [
    (
        AgentUnavailable("no provider", agent="image-gen", command="generate", status=501,
                         code=ErrorCode.PROVIDER_NOT_CONFIGURED),
        "image generation isn't set up on this bot — an admin must configure a provider",
    ),
    (
        AgentRejected("private", agent="web-scraper", command="scrape", code=ErrorCode.BLOCKED_URL),
        "that URL points to a private/blocked address",
    ),
    (
        CircuitOpen("the breaker is open", retry_in_s=27, agent="web-scraper"),
        "the web scraper agent is failing; try again in 27s",
    ),
    (
        AgentTimeout("no result in time", limit_s=120, agent="data-analysis"),
        "the data analysis agent took longer than 120s",
    ),
    (AgentUnavailable("connection refused", agent="audio-video"), "the audio/video agent is down right now"),
    (AgentBusy("busy", agent="audio-video"), "the audio/video agent is busy"),
    (AuthError("no token", agent="image-gen"), "an admin should check Workload Identity"),
    (ProtocolViolation("junk", agent="image-gen"), "doesn't understand"),
    (AgentRejected("columns x not found", agent="data-analysis", command="chart"), "refused this: columns x"),
]  # fmt: skip


def test_a_refused_provider_request_is_not_told_to_try_again_later() -> None:
    # The agent's message already says what to do; a refusal will not pass by waiting.
    refused = AgentUnavailable(
        "OpenAI rejected the request (400: bad size) — change the prompt or options and retry",
        agent="image-gen", command="generate", status=502, retryable=False, code=ErrorCode.PROVIDER_ERROR,
        source="upstream",
    )  # fmt: skip
    text = describe_agent_error(refused)
    assert "change the prompt or options" in text and "try again later" not in text


@pytest.mark.parametrize(("error", "expected"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_specific_text(error: AgentError, expected: str) -> None:
    assert expected in describe_agent_error(error)


def test_the_agents_words_are_quoted_as_text() -> None:
    exc = AgentRejected(
        "404 from [https://discord.com/nitro](https://evil.example/x)\n# big",
        agent="web-scraper",
        command="scrape",
        code=ErrorCode.FETCH_FAILED,
    )
    text = describe_agent_error(exc)
    assert "https://evil.example/x" in text
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", text)
    assert "\n# big" not in text
    # Shown again in an error embed, it is not escaped twice.
    assert render_error(text).embeds[0].description == text
