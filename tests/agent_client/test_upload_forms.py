"""The client sends files as multipart only to an agent whose current build's manifest says it takes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from agents.common import AgentSettings
from agents.common.app import MANIFEST
from agents.common.errors import Handler, error_response
from agents.data_analysis.app import build
from agents.data_analysis.settings import AnalysisSettings
from spotrun.protocol import (
    AgentManifest,
    AgentRequest,
    AnalyzeArgs,
    CallerContext,
    Command,
    ErrorCode,
    InputFile,
)
from tests.agent_client.conftest import registry
from tests.helpers import serve

CSV = b"id,city,v\n" + b"".join(b'%d,"Paris\nnord",%d\n' % (i, i % 9) for i in range(400))


@dataclass
class Seen:
    """What reached the real agent: each request's form and key; `fail` answers before the agent."""

    forms: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    fail: list[tuple[str, int]] = field(default_factory=list)  # (form, status) to answer, in order


def recording(seen: Seen) -> Any:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST":
            form = "multipart" if request.content_type == "multipart/form-data" else "json"
            seen.forms.append(form)
            seen.keys.append(request.headers["Idempotency-Key"])
            if seen.fail and seen.fail[0][0] == form:
                _, status = seen.fail.pop(0)
                seen.bodies.append(await request.read())
                if status == 422:  # what an agent without multipart answers: the body is no JSON
                    return error_response(ErrorCode.INVALID_ARGUMENT, "Invalid JSON", 422, False)
                return error_response(ErrorCode.UNAVAILABLE, "scripted", status, True)
        return await handler(request)

    return record


@pytest.fixture
async def agent() -> AsyncIterator[tuple[Seen, web.Application, str]]:
    seen = Seen()
    app = build(AgentSettings(auth="none"), AnalysisSettings(infer_rows=100, csv_batch_mb=1 / 1024))
    app.middlewares.append(recording(seen))
    async with serve(app) as url:
        yield seen, app, url


def analyze(job_id: str) -> AgentRequest:
    return AgentRequest(
        job_id=job_id,
        command=Command.ANALYZE,
        args=AnalyzeArgs(),
        context=CallerContext(user_id="42"),
        files=[InputFile(name="t.csv", content_type="text/csv", data=CSV)],
    )


def data_registry(url: str) -> Any:
    return registry(url, name="data-analysis", commands=["analyze"])


async def test_multipart_only_after_the_manifest_says_so(agent, make_client) -> None:
    seen, _, url = agent
    client = make_client(data_registry(url))
    first = await client.call(analyze("f-1"))  # no manifest read yet: JSON, which every agent reads
    manifest, error = await client.manifest("data-analysis")
    assert manifest is not None and manifest.takes_multipart, error
    second = await client.call(analyze("f-2"))
    assert seen.forms == ["json", "multipart"]
    assert second.data == first.data and second.data["rows"] == 400


async def test_an_agent_whose_manifest_does_not_list_multipart_gets_json(agent, make_client) -> None:
    seen, app, url = agent
    # What an agent from before multipart publishes: no "uploads" field at all.
    old = AgentManifest.model_validate_json(app[MANIFEST].model_dump_json(exclude={"uploads"}))
    assert not old.takes_multipart and old.uploads == ["json"]
    app[MANIFEST].uploads = old.uploads
    client = make_client(data_registry(url))
    await client.manifest("data-analysis")
    await client.call(analyze("o-1"))
    assert seen.forms == ["json"]


async def test_a_rolled_back_agent_gets_the_job_again_as_json_under_the_same_key(agent, make_client) -> None:
    seen, app, url = agent
    client = make_client(data_registry(url))
    await client.manifest("data-analysis")
    # Another build now answers (a rollback): it refuses the multipart body as invalid JSON.
    app[MANIFEST].revision, app[MANIFEST].uploads = "older-rev", ["json"]
    seen.fail = [("multipart", 422)]
    result = await client.call(analyze("r-1"))
    assert result.data["rows"] == 400
    assert seen.forms == ["multipart", "json"] and seen.keys == ["r-1", "r-1"]
    await client.call(analyze("r-2"))  # the client keeps to JSON for that build
    assert seen.forms[-1] == "json"


async def test_retries_resend_the_same_multipart_bytes(agent, make_client) -> None:
    seen, _, url = agent
    client = make_client(data_registry(url))
    await client.manifest("data-analysis")
    seen.fail = [("multipart", 503), ("multipart", 503)]
    result = await client.call(analyze("t-1"))
    assert result.data["rows"] == 400 and seen.forms == ["multipart"] * 3 and seen.keys == ["t-1"] * 3
    # The boundary is random per encoding: equal bodies were encoded once and sent again.
    assert seen.bodies[0] == seen.bodies[1] and CSV in seen.bodies[0]
