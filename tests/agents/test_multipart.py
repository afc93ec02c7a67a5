"""Uploads as multipart/form-data: raw file parts read in pieces, under the same caps, same answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from agent_client._multipart import encode_multipart
from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app
from agents.data_analysis.app import build
from agents.data_analysis.settings import AnalysisSettings
from spotrun.protocol import AgentRequest, AnalyzeArgs, CallerContext, Command, InputFile
from tests.helpers import serve


def csv_rows(n: int) -> bytes:
    lines = ["id,city,note,v"] + [
        f'{i},{["Paris", "Lyon"][i % 2]},"a quoted\nnote, {i}",{i * 0.5}' for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


def analyze(job_id: str, data: bytes, name: str = "t.csv") -> AgentRequest:
    return AgentRequest(
        job_id=job_id,
        command=Command.ANALYZE,
        args=AnalyzeArgs(),
        context=CallerContext(user_id="42"),
        files=[InputFile(name=name, content_type="text/csv", data=data)],
    )


async def post(
    url: str, body: bytes, content_type: str, job_id: str, command: str = "analyze"
) -> tuple[int, dict, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/v1/{command}",
            data=body,
            headers={"Content-Type": content_type, "Idempotency-Key": job_id},
        ) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


async def post_json(url: str, request: AgentRequest) -> tuple[int, dict, dict]:
    return await post(url, request.model_dump_json().encode(), "application/json", request.job_id)


async def post_multipart(url: str, request: AgentRequest) -> tuple[int, dict, dict]:
    body, content_type = encode_multipart(request)
    return await post(url, body, content_type, request.job_id)


@pytest.fixture
async def agent() -> AsyncIterator[str]:
    # Small CSV batches, so the test files are parsed in several pieces as a big upload is.
    analysis = AnalysisSettings(infer_rows=100, csv_batch_mb=1 / 256, max_file_mb=1)
    async with serve(build(AgentSettings(auth="none", max_request_mb=2), analysis)) as url:
        yield url


@pytest.fixture
async def big_agent() -> AsyncIterator[str]:
    """Room for a file of several 1 MiB pieces, parsed in batches of ~4 KiB."""
    analysis = AnalysisSettings(infer_rows=100, csv_batch_mb=1 / 256, max_file_mb=8)
    async with serve(build(AgentSettings(auth="none", max_request_mb=16), analysis)) as url:
        yield url


async def test_a_multipart_upload_is_analysed_like_the_json_one(big_agent: str) -> None:
    agent = big_agent
    data = csv_rows(100_000)  # ~3.4 MB: four 1 MiB pieces, each parsed as a batch
    status, by_json, _ = await post_json(agent, analyze("json-1", data))
    assert status == 200, by_json
    status, by_parts, headers = await post_multipart(agent, analyze("parts-1", data))
    assert status == 200, by_parts
    assert by_parts["data"] == by_json["data"] and by_parts["text"] == by_json["text"]
    assert by_parts["data"]["rows"] == 100_000
    assert "Idempotent-Replay" not in headers


async def test_the_manifest_says_the_agent_takes_multipart(agent: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{agent}/v1/manifest") as response:
        manifest = await response.json()
    assert manifest["uploads"] == ["json", "multipart"]


async def test_the_same_job_replays_across_the_two_forms(agent: str) -> None:
    data = csv_rows(500)
    status, first, _ = await post_json(agent, analyze("same-1", data))
    assert status == 200
    # A retry of the same job that went out as multipart (or the other way round) is the same job.
    status, again, headers = await post_multipart(agent, analyze("same-1", data))
    assert status == 200 and headers.get("Idempotent-Replay") == "true" and again == first
    # Another file under that job id is still a conflict, whatever the form.
    status, body, _ = await post_multipart(agent, analyze("same-1", data + b"1,Paris,x,2\n"))
    assert status == 409 and body["error"]["code"] == "idempotency_conflict"


async def test_a_file_past_the_agents_own_cap_is_refused_as_it_arrives(agent: str) -> None:
    # 1.5 MiB: past the analysis agent's 1 MiB for a file, under the runtime's 2 MiB for a body.
    body, content_type = encode_multipart(analyze("big-1", csv_rows(60_000)[: int(1.5 * 2**20)]))
    status, result, _ = await post(agent, body, content_type, "big-1")
    assert status == 413 and result["error"]["code"] == "payload_too_large"
    assert "t.csv is larger than 1 MiB, the limit for one file" in result["error"]["message"]


async def post_streamed(url: str, job_id: str, file_mib: float) -> tuple[int, dict]:
    """A multipart body streamed in 64 KiB chunks with no length anywhere (neither the body's nor
    the part's): a cap can only be found while reading."""
    listed = analyze(job_id, b"").model_dump_json()
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="request"\r\n'
        f"Content-Type: application/json\r\n\r\n{listed}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        for _ in range(int(file_mib * 16)):
            yield b"x" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/v1/analyze",
            data=chunks(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        ) as response,
    ):
        return response.status, await response.json()


async def test_a_streamed_multipart_body_past_the_cap_is_413_without_any_length() -> None:
    reached = []

    async def handler(job: Job) -> Output:
        reached.append(job)
        return Output()

    spec = AgentSpec(name="data-analysis", handlers={Command.ANALYZE: handler})
    async with serve(create_agent_app(spec, AgentSettings(auth="none", max_request_mb=1))) as url:
        status, result = await post_streamed(url, "stream-1", 2.5)
    assert status == 413 and result["error"]["code"] == "payload_too_large"
    assert "request too large" in result["error"]["message"] and not reached


async def test_a_streamed_file_past_the_agents_own_cap_is_413_while_it_arrives(agent: str) -> None:
    status, result = await post_streamed(agent, "stream-2", 1.5)  # the body cap is 2 MiB, a file's 1
    assert status == 413 and result["error"]["code"] == "payload_too_large"
    assert "t.csv is larger than 1 MiB, the limit for one file" in result["error"]["message"]


async def test_parts_that_do_not_match_the_listed_files_are_refused(agent: str) -> None:
    request = analyze("count-1", b"a\n1\n")
    body, content_type = encode_multipart(request)
    boundary = content_type.split("boundary=")[1]
    # The file part removed: the request lists one file and carries none.
    cut = body.index(f'--{boundary}\r\nContent-Disposition: form-data; name="file"'.encode())
    no_file = body[:cut] + f"--{boundary}--\r\n".encode()
    status, result, _ = await post(agent, no_file, content_type, "count-1")
    assert status == 422 and "lists 1 file(s) but carries 0" in result["error"]["message"]
    # No request part first.
    status, result, _ = await post(agent, body[cut:], content_type, "count-1")
    assert status == 422 and "starts with its 'request' part" in result["error"]["message"]


async def test_json_uploads_still_work_and_keep_their_validation(agent: str) -> None:
    request = json.loads(analyze("plain-1", csv_rows(10)).model_dump_json())
    request["files"][0]["name"] = ".."
    status, result, _ = await post(agent, json.dumps(request).encode(), "application/json", "plain-1")
    assert status == 422 and "file name is empty" in result["error"]["message"]


async def test_an_agent_written_against_file_data_gets_the_bytes_from_a_multipart_upload() -> None:
    async def echo(job: Job) -> Output:
        file = job.file()
        return Output(text=f"{len(file.data)}:{file.data[:5].decode()}:{file.in_pieces}")

    # Not opted in to pieces (reads_pieces defaults to False): the runtime joins them into `data`.
    spec = AgentSpec(name="data-analysis", handlers={Command.ANALYZE: echo})
    data = csv_rows(40_000)  # ~1.2 MB: several 1 MiB pieces
    async with serve(create_agent_app(spec, AgentSettings(auth="none"))) as url:
        status, result, _ = await post_multipart(url, analyze("echo-1", data))
    assert status == 200 and result["text"] == f"{len(data)}:id,ci:False"


async def test_a_chart_from_a_multipart_upload_matches_the_json_one(big_agent: str) -> None:
    agent = big_agent
    data = csv_rows(100_000)  # read in batches in the file's own types (not analyze's narrow ones)

    def chart(job_id: str) -> AgentRequest:
        request = analyze(job_id, data).model_dump()
        return AgentRequest.model_validate(
            {**request, "command": "chart", "args": {"kind": "line", "y": ["v"]}}
        )

    as_json = chart("c-json")
    status, by_json, _ = await post(
        agent, as_json.model_dump_json().encode(), "application/json", "c-json", "chart"
    )
    status_parts, by_parts, _ = await post(agent, *encode_multipart(chart("c-parts")), "c-parts", "chart")
    assert status == status_parts == 200, (by_json, by_parts)
    assert by_parts["text"] == by_json["text"] and by_parts["files"] == by_json["files"]
