"""A job id replays only for the same caller, command and request: anything else is a 409, through
the real agent app (auth `none` and Google ID tokens from the loopback metadata server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app
from spotrun.protocol import Command
from tests.agent_client.conftest import tts_request
from tests.fakes.metadata import FakeMetadataServer
from tests.helpers import serve

AUDIENCE = "https://audio-video-abc123-ew.a.run.app"
BOT = "spotrun-bot@test-project.iam.gserviceaccount.com"
OTHER = "spotrun-other@test-project.iam.gserviceaccount.com"


@dataclass
class Calls:
    seen: list[tuple[str, str]] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)


def spec_for(calls: Calls) -> AgentSpec:
    async def tts(job: Job) -> Output:
        calls.seen.append(("tts", job.args.text))
        if job.args.text == "wait":
            calls.started.set()
            await calls.gate.wait()
        return Output(text=f"spoke {job.args.text} for {job.request.context.user_id}")

    async def transcribe(job: Job) -> Output:
        calls.seen.append(("transcribe", job.file().name))
        return Output(text=f"heard {job.file().name}")

    return AgentSpec(name="audio-video", handlers={Command.TTS: tts, Command.TRANSCRIBE: transcribe})


@pytest.fixture
async def local() -> AsyncIterator[tuple[str, Calls]]:
    calls = Calls()
    async with serve(create_agent_app(spec_for(calls), AgentSettings(auth="none"))) as url:
        yield url, calls


@pytest.fixture
async def secured(metadata: FakeMetadataServer) -> AsyncIterator[tuple[str, Calls]]:
    calls = Calls()
    settings = AgentSettings(auth="google", audience=AUDIENCE, certs_url=metadata.certs_url)
    async with serve(create_agent_app(spec_for(calls), settings)) as url:
        yield url, calls


def body(job_id: str, text: str = "hello", user: str = "42") -> dict:
    data = json.loads(tts_request(job_id).model_dump_json())
    data["args"]["text"] = text
    data["context"]["user_id"] = user
    return data


def transcribe_body(job_id: str, name: str = "a.wav", data: bytes = b"RIFF1") -> dict:
    import base64

    return {
        "job_id": job_id,
        "command": "transcribe",
        "args": {},
        "files": [{"name": name, "content_type": "audio/wav", "data": base64.b64encode(data).decode()}],
        "context": {"user_id": "42"},
    }


async def post(url: str, payload: dict, token: str | None = None) -> tuple[int, dict, bool]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{url}/v1/{payload['command']}", data=json.dumps(payload), headers=headers) as r,
    ):
        return r.status, await r.json(), r.headers.get("Idempotent-Replay") == "true"


def conflict(status: int, answer: dict) -> bool:
    error = answer.get("error", {})
    return (
        status == 409
        and error.get("code") == "idempotency_conflict"
        and error.get("retryable") is False
        and error.get("source") == "input"  # the request's fault: never counted against the agent
    )


async def test_identical_retry_replays_the_first_answer(local):
    url, calls = local
    first = await post(url, body("same-1"))
    again = await post(url, body("same-1"))
    assert first[0] == again[0] == 200 and again[1] == first[1]
    assert again[2] is True and len(calls.seen) == 1


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(lambda: body("j-1", text="another text"), id="other args"),
        pytest.param(lambda: body("j-1", user="43"), id="other user"),
        pytest.param(lambda: transcribe_body("j-1"), id="other command"),
    ],
)
async def test_same_id_with_another_request_is_409_not_a_replay(local, second):
    url, calls = local
    status, first, _ = await post(url, body("j-1"))
    assert status == 200
    status, answer, replayed = await post(url, second())
    assert conflict(status, answer), (status, answer)
    assert "j-1" in answer["error"]["message"] and not replayed
    assert len(calls.seen) == 1, "a conflict runs nothing"
    # The first request is still the one the id stands for.
    assert (await post(url, body("j-1")))[1] == first


async def test_same_id_with_other_file_content_is_409(local):
    url, calls = local
    assert (await post(url, transcribe_body("f-1", data=b"RIFF-one")))[0] == 200
    status, answer, _ = await post(url, transcribe_body("f-1", data=b"RIFF-two"))
    assert conflict(status, answer) and len(calls.seen) == 1


async def test_a_conflict_while_the_first_still_runs_is_409(local):
    url, calls = local
    running = asyncio.create_task(post(url, body("run-1", text="wait")))
    await asyncio.wait_for(calls.started.wait(), 10)
    status, answer, _ = await asyncio.wait_for(post(url, body("run-1", text="other")), 10)
    assert conflict(status, answer)
    duplicate = asyncio.create_task(post(url, body("run-1", text="wait")))  # the client's own retry
    await asyncio.sleep(0.05)
    calls.gate.set()
    first, retry = await running, await duplicate
    assert first[0] == retry[0] == 200 and retry[1] == first[1] and retry[2] is True
    assert calls.seen == [("tts", "wait")]


async def test_same_request_from_another_caller_is_409(secured, metadata):
    url, calls = secured
    status, first, _ = await post(url, body("c-1"), metadata.mint(AUDIENCE, email=BOT))
    assert status == 200
    status, answer, _ = await post(url, body("c-1"), metadata.mint(AUDIENCE, email=OTHER))
    assert conflict(status, answer), (status, answer)
    # The first caller's retry, with a fresh token, still replays.
    status, again, replayed = await post(url, body("c-1"), metadata.mint(AUDIENCE, email=BOT))
    assert status == 200 and again == first and replayed
    assert len(calls.seen) == 1
