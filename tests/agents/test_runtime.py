"""The shared agent runtime: dispatch, errors, idempotency, limits, deadlines, health, trace logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from agents.common import AgentFailure, AgentSettings, AgentSpec, Job, Output, create_agent_app
from spotrun import logs
from spotrun.protocol import Command, EngineStatus, ErrorCode
from tests.agent_client.conftest import tts_request
from tests.helpers import serve


class Counter:
    def __init__(self) -> None:
        self.calls = 0


@pytest.fixture
async def runtime() -> AsyncIterator[tuple[str, Counter]]:
    counter = Counter()

    async def tts(job: Job) -> Output:
        counter.calls += 1
        text = job.args.text
        if text == "boom":
            raise RuntimeError("secret internals /etc/passwd")
        if text == "refuse":
            raise AgentFailure(ErrorCode.CONTENT_POLICY, "the provider refused this prompt — rephrase it")
        if text == "slow":
            await asyncio.sleep(5)
        if text == "flaky":
            raise AgentFailure(ErrorCode.UNAVAILABLE, "engine warming up")
        await asyncio.sleep(0.05)
        return Output(text=f"#{counter.calls}", provider="espeak", provider_cost_usd=0.001)

    spec = AgentSpec(
        name="audio-video",
        handlers={Command.TTS: tts},
        engines=lambda app: {"espeak-ng": EngineStatus(available=True)},
    )
    app = create_agent_app(spec, AgentSettings(auth="none", max_request_mb=0.05))
    async with serve(app) as url:
        yield url, counter


async def post(url: str, command: str, body: str | bytes, headers: dict | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.post(f"{url}/v1/{command}", data=body, headers=headers) as r:
        return r.status, await r.json()


async def test_health_reports_commands_and_engines(runtime):
    url, _ = runtime
    async with aiohttp.ClientSession() as s, s.get(f"{url}/health") as r:
        body = await r.json()
    assert r.status == 200 and body["agent"] == "audio-video" and body["commands"] == ["tts"]
    assert body["engines"]["espeak-ng"]["available"] is True


async def test_result_carries_measured_usage(runtime):
    url, _ = runtime
    status, body = await post(url, "tts", tts_request("u1").model_dump_json())
    assert status == 200
    assert body["usage"]["duration_ms"] >= 50 and body["usage"]["provider_cost_usd"] == 0.001


async def test_repeated_job_id_returns_first_result_without_redoing(runtime):
    url, counter = runtime
    body = tts_request("same-job").model_dump_json()
    results = await asyncio.gather(*(post(url, "tts", body) for _ in range(3)))
    again = await post(url, "tts", body)
    assert counter.calls == 1, "duplicates must not redo (and re-bill) the work"
    assert {r[1]["text"] for r in [*results, again]} == {"#1"}


async def test_retryable_failures_are_not_cached(runtime):
    url, counter = runtime
    body = tts_request("flaky-job").model_dump_json().replace('"hello"', '"flaky"')
    s1, b1 = await post(url, "tts", body)
    s2, _ = await post(url, "tts", body)
    assert s1 == s2 == 503 and b1["error"]["retryable"] is True
    assert counter.calls == 2


async def test_agent_failure_becomes_protocol_error(runtime):
    url, _ = runtime
    body = tts_request("r1").model_dump_json().replace('"hello"', '"refuse"')
    status, payload = await post(url, "tts", body)
    assert status == 422
    assert payload == {
        "error": {
            "code": "content_policy",
            "message": "the provider refused this prompt — rephrase it",
            "retryable": False,
            "source": "input",  # defaulted from the code: the prompt's fault, not the agent's
        }
    }


async def test_unhandled_error_is_500_without_traceback(runtime):
    url, _ = runtime
    body = tts_request("b1").model_dump_json().replace('"hello"', '"boom"')
    status, payload = await post(url, "tts", body)
    assert status == 500 and payload["error"]["code"] == "internal"
    # A crash is the agent's own failure, and final: the same input would crash it again.
    assert payload["error"]["retryable"] is False and payload["error"]["source"] == "agent"
    assert "passwd" not in json.dumps(payload) and "Traceback" not in json.dumps(payload)
    status, _ = await post(url, "tts", tts_request("after-boom").model_dump_json())
    assert status == 200, "the agent keeps serving"


async def test_invalid_arguments_are_422_naming_the_field(runtime):
    url, _ = runtime
    body = json.loads(tts_request("v1").model_dump_json())
    body["args"]["text"] = "x" * 5000
    status, payload = await post(url, "tts", json.dumps(body))
    assert status == 422 and payload["error"]["code"] == "invalid_argument"
    assert "text" in payload["error"]["message"]
    body["args"] = {"text": "hi", "volume": 11}
    status, payload = await post(url, "tts", json.dumps(body))
    assert status == 422 and "volume" in payload["error"]["message"]


async def test_unknown_and_foreign_commands_are_404(runtime):
    url, _ = runtime
    status, payload = await post(url, "frobnicate", "{}")
    assert status == 404 and "frobnicate" in payload["error"]["message"]
    status, payload = await post(url, "scrape", "{}")
    assert status == 404 and payload["error"]["code"] == "not_found"


async def test_oversized_request_is_413(runtime):
    url, _ = runtime
    status, payload = await post(url, "tts", b"x" * 100_000, {"Content-Type": "application/json"})
    assert status == 413 and payload["error"]["code"] == "payload_too_large"


async def test_mismatched_idempotency_key_is_refused(runtime):
    url, _ = runtime
    status, payload = await post(
        url, "tts", tts_request("k1").model_dump_json(), {"Idempotency-Key": "other"}
    )
    assert status == 422 and "Idempotency-Key" in payload["error"]["message"]


async def test_request_deadline_gives_504(runtime):
    url, _ = runtime
    body = json.loads(tts_request("d1").model_dump_json())
    body["args"]["text"], body["deadline_s"] = "slow", 0.3
    status, payload = await post(url, "tts", json.dumps(body))
    assert status == 504 and payload["error"]["code"] == "timeout" and payload["error"]["retryable"]


async def test_logs_join_the_callers_trace(runtime):
    url, _ = runtime
    stream = io.StringIO()
    logs.configure_logging("INFO", "json", project="test-project", stream=stream)
    try:
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        await post(
            url,
            "tts",
            tts_request("t1").model_dump_json(),
            {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
        )
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(x) for x in stream.getvalue().splitlines() if x.strip()]
    request_lines = [x for x in lines if x.get("message") == "request"]
    assert request_lines, lines
    line = request_lines[0]
    assert line["logging.googleapis.com/trace"] == f"projects/test-project/traces/{trace}"
    assert line["severity"] == "INFO" and line["httpRequest"]["status"] == 200
    assert line["job_id"] == "t1"
