"""A scriptable loopback agent: each test says what the next answers are and reads what arrived."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from agent_client import AgentClient, AgentRegistry, create_session
from agent_client._auth import TokenSource
from spotrun.protocol import AgentRequest, AgentResult, CallerContext, Command, TtsArgs, Usage
from tests.helpers import serve


@dataclass
class Script:
    """Answers to give, in order; the last one repeats. 'reset' drops the connection, 'hang' never
    answers, 'proxy-502' is a front end's HTML page, 'verdict' a 503 marked upstream and final."""

    answers: list[Any] = field(default_factory=lambda: [200])
    seen: list[dict[str, str]] = field(default_factory=list)
    retry_after: str | None = None
    times: list[float] = field(default_factory=list)

    def next(self) -> Any:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def result_for(job_id: str) -> bytes:
    return (
        AgentResult(job_id=job_id, command=Command.TTS, text="ok", usage=Usage(duration_ms=12.5))
        .model_dump_json()
        .encode()
    )


def scripted_app(script: Script) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        script.seen.append(dict(request.headers))
        script.times.append(asyncio.get_running_loop().time())
        answer = script.next()
        if answer == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if answer == "hang":
            await asyncio.sleep(3600)
        if answer == "garbage":
            return web.Response(status=200, text="{not json", content_type="application/json")
        if answer == 200:
            return web.Response(body=result_for(body["job_id"]), content_type="application/json")
        if answer == "proxy-502":  # what a load balancer in front of the agent sends: no ErrorBody
            return web.Response(
                status=502, text="<html><h1>502 Bad Gateway</h1></html>", content_type="text/html"
            )
        if answer == "verdict":  # a 503 the agent says is a third party's, and not worth retrying
            err = {
                "error": {
                    "code": "unavailable",
                    "message": "scripted",
                    "retryable": False,
                    "source": "upstream",
                }
            }
            return web.json_response(err, status=503)
        headers = {"Retry-After": script.retry_after} if script.retry_after and answer == 429 else None
        err = {
            "error": {
                "code": "invalid_argument" if answer < 500 else "unavailable",
                "message": f"scripted {answer}",
                "retryable": answer >= 500,
            }
        }
        return web.json_response(err, status=answer, headers=headers)

    app = web.Application()
    app.router.add_post("/v1/{command}", handle)
    app.router.add_get(
        "/health", lambda r: web.json_response({"agent": "audio-video", "version": "t", "commands": ["tts"]})
    )
    return app


def registry(url: str, **overrides: Any) -> AgentRegistry:
    agent = {
        "name": "audio-video",
        "base_url": url,
        "auth": "none",
        "commands": ["tts"],
        "timeout_s": 5,
        "retries": 2,
        "breaker_failures": 3,
        "breaker_cooldown_s": 0.5,
        **overrides,
    }
    return AgentRegistry.from_data({"agents": [agent]})


def tts_request(job_id: str = "job-1") -> AgentRequest:
    return AgentRequest(
        job_id=job_id,
        command=Command.TTS,
        args=TtsArgs(text="hello"),
        context=CallerContext(user_id="42", guild_id="7", channel_id="9"),
    )


@pytest.fixture
async def agent() -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    async with serve(scripted_app(script)) as url:
        yield script, url


@pytest.fixture
async def make_client() -> AsyncIterator[Any]:
    sessions = []

    def make(reg: AgentRegistry, tokens: TokenSource | None = None, **kw: Any) -> AgentClient:
        session = create_session()
        sessions.append(session)
        kw.setdefault("backoff_initial_s", 0.01)
        kw.setdefault("backoff_max_s", 0.05)
        return AgentClient(reg, session, tokens, **kw)

    yield make
    for s in sessions:
        await s.close()
