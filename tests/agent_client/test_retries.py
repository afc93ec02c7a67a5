"""Retry policy, deadlines, breaker and limits against a real loopback agent."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from agent_client import (
    AgentBusy,
    AgentRejected,
    AgentTimeout,
    AgentUnavailable,
    BreakerState,
    CircuitOpen,
    ProtocolViolation,
    parse_retry_after,
)
from tests.agent_client.conftest import registry, tts_request


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_503_503_200_is_one_success_two_retries_one_key(agent, make_client):
    script, url = agent
    script.answers = [503, 503, 200]
    client = make_client(registry(url))
    before = metric("spotrun_agent_retries_total", agent="audio-video", reason="503")
    result = await client.call(tts_request("job-abc"))
    assert result.job_id == "job-abc" and result.text == "ok"
    assert len(script.seen) == 3
    assert {h["Idempotency-Key"] for h in script.seen} == {"job-abc"}
    assert metric("spotrun_agent_retries_total", agent="audio-video", reason="503") - before == 2
    # every attempt carries trace context, a fresh span on one trace
    traces = {h["traceparent"].split("-")[1] for h in script.seen}
    assert len(traces) == 1 and all("X-Cloud-Trace-Context" in h for h in script.seen)


async def test_429_retry_after_is_honoured(agent, make_client):
    script, url = agent
    script.answers, script.retry_after = [429, 200], "0.4"
    client = make_client(registry(url))
    await client.call(tts_request())
    gap = script.times[1] - script.times[0]
    assert gap >= 0.38, f"retried after {gap:.3f}s despite Retry-After: 0.4"


async def test_429_exhausted_raises_busy(agent, make_client):
    script, url = agent
    script.answers = [429]
    client = make_client(registry(url, retries=1))
    with pytest.raises(AgentBusy) as err:
        await client.call(tts_request())
    assert err.value.status == 429 and err.value.retryable
    assert len(script.seen) == 2


async def test_connection_reset_is_retried(agent, make_client):
    script, url = agent
    script.answers = ["reset", 200]
    client = make_client(registry(url))
    assert (await client.call(tts_request())).text == "ok"
    assert len(script.seen) == 2


async def test_hung_agent_hits_the_deadline(agent, make_client):
    script, url = agent
    script.answers = ["hang"]
    client = make_client(registry(url, timeout_s=30))
    started = time.monotonic()
    with pytest.raises(AgentTimeout) as err:
        await client.call(tts_request(), deadline_s=0.6)
    elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 2.0, elapsed
    assert err.value.agent == "audio-video" and err.value.command == "tts"
    assert err.value.limit_s == pytest.approx(0.6, abs=0.05)  # what was left of the deadline, as a number


async def test_400_is_not_retried_and_carries_the_agents_reason(agent, make_client):
    script, url = agent
    script.answers = [422]
    client = make_client(registry(url))
    with pytest.raises(AgentRejected) as err:
        await client.call(tts_request())
    assert len(script.seen) == 1
    assert err.value.status == 422 and not err.value.retryable
    assert err.value.code == "invalid_argument" and "scripted 422" in err.value.message


async def test_invalid_result_is_a_protocol_violation(agent, make_client):
    script, url = agent
    script.answers = ["garbage"]
    client = make_client(registry(url))
    with pytest.raises(ProtocolViolation):
        await client.call(tts_request())


async def test_unreachable_agent_is_unavailable_after_retries(make_client):
    from tests.helpers import free_port

    client = make_client(registry(f"http://127.0.0.1:{free_port()}", breaker_failures=10))
    with pytest.raises(AgentUnavailable) as err:
        await client.call(tts_request())
    assert "could not reach" in err.value.message


async def test_breaker_opens_fails_fast_then_recovers(agent, make_client):
    script, url = agent
    script.answers = [503]
    client = make_client(registry(url, retries=0, breaker_failures=3, breaker_cooldown_s=0.4))
    for _ in range(3):
        with pytest.raises(AgentUnavailable):
            await client.call(tts_request())
    assert client.breaker_state("audio-video") is BreakerState.OPEN
    assert metric("spotrun_agent_breaker_state", agent="audio-video") == 2
    calls = len(script.seen)
    with pytest.raises(CircuitOpen):
        await client.call(tts_request())
    assert len(script.seen) == calls, "an open breaker must not call the agent"

    await asyncio.sleep(0.45)
    assert client.breaker_state("audio-video") is BreakerState.HALF_OPEN
    script.answers = [200]
    assert (await client.call(tts_request())).text == "ok"
    assert client.breaker_state("audio-video") is BreakerState.CLOSED


async def test_half_open_failure_reopens(agent, make_client):
    script, url = agent
    script.answers = [503]
    client = make_client(registry(url, retries=0, breaker_failures=1, breaker_cooldown_s=0.2))
    with pytest.raises(AgentUnavailable):
        await client.call(tts_request())
    await asyncio.sleep(0.25)
    with pytest.raises(AgentUnavailable):
        await client.call(tts_request())  # the probe
    assert client.breaker_state("audio-video") is BreakerState.OPEN


async def test_concurrency_limit_per_agent(agent, make_client):
    script, url = agent
    script.answers = [200]
    client = make_client(registry(url, max_concurrency=2))
    peak = 0

    async def watch() -> None:
        nonlocal peak
        for _ in range(200):
            peak = max(peak, client.in_flight("audio-video"))
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(client.call(tts_request(f"j{i}")) for i in range(12)))
    await watcher
    assert 1 <= peak <= 2
    assert client.stats("audio-video").calls >= 12


def test_parse_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412480.0 - 5) == 5.0


async def test_circuit_open_message_never_says_zero_seconds(agent, make_client):
    script, url = agent
    script.answers = [503]
    client = make_client(registry(url, retries=0, breaker_failures=1, breaker_cooldown_s=0.3))
    with pytest.raises(AgentUnavailable):
        await client.call(tts_request())
    with pytest.raises(CircuitOpen) as err:
        await client.call(tts_request())
    assert "retrying in 1s" in err.value.message and err.value.retry_in_s == 1
