"""The runtime frees a request's raw body once it is parsed: the engine runs with the decoded upload only."""

from __future__ import annotations

import os
import tracemalloc

import aiohttp

from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app
from spotrun.protocol import AgentRequest, AnalyzeArgs, CallerContext, Command, InputFile
from tests.helpers import serve

_UPLOAD = 4 * 2**20


async def test_the_base64_body_is_not_held_while_the_handler_runs():
    seen: list[int] = []

    async def analyze(job: Job) -> Output:
        seen.append(tracemalloc.get_traced_memory()[0])
        return Output(text=str(len(job.file().data)))

    spec = AgentSpec(name="data-analysis", handlers={Command.ANALYZE: analyze})
    app = create_agent_app(spec, AgentSettings(auth="none", max_request_mb=16))
    body = (
        AgentRequest(
            job_id="body-1",
            command=Command.ANALYZE,
            args=AnalyzeArgs(),
            context=CallerContext(user_id="42", guild_id="7", channel_id="9"),
            files=[InputFile(name="x.csv", content_type="text/csv", data=os.urandom(_UPLOAD))],
        )
        .model_dump_json()
        .encode()
    )
    async with serve(app) as url, aiohttp.ClientSession() as session:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            async with session.post(f"{url}/v1/analyze", data=body) as response:
                result = await response.json()
        finally:
            tracemalloc.stop()
    assert response.status == 200 and result["text"] == str(_UPLOAD)
    held = seen[0] - before
    # The decoded upload (4 MiB) must be held; the 5.3 MiB base64 body (and any copy of it) must not.
    assert held < _UPLOAD + len(body) // 2, f"{held / 2**20:.1f} MiB held while the engine ran"


async def test_a_chunked_body_past_the_cap_is_413_without_a_content_length():
    async def analyze(job: Job) -> Output:
        raise AssertionError("an oversized request must not reach the handler")

    spec = AgentSpec(name="data-analysis", handlers={Command.ANALYZE: analyze})
    app = create_agent_app(spec, AgentSettings(auth="none", max_request_mb=1))

    async def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB in all, streamed: the cap is found while reading

    async with (
        serve(app) as url,
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/analyze", data=chunks()) as response,
    ):
        result = await response.json()
    assert response.status == 413 and result["error"]["code"] == "payload_too_large"
