"""GET /v1/manifest: every agent describes its commands from the protocol's own models, cheaply,
behind the same authentication as its other routes; an agent outside the protocol's table too."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import aiohttp
import pytest
from pydantic import Field

from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app
from spotrun.protocol import (
    COMMANDS,
    PROTOCOL_VERSION,
    AgentManifest,
    CommandArgs,
    CommandSpec,
    protocol_major,
)
from tests.helpers import ROOT, serve

BUILT_IN = {
    "agents.image_gen.app": ["generate", "enhance", "style-transfer"],
    "agents.web_scraper.app": ["scrape", "extract"],
    "agents.data_analysis.app": ["analyze", "chart", "predict"],
    "agents.audio_video.app": ["transcribe", "tts", "convert"],
}


async def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        return r.status, await r.json()


@pytest.mark.parametrize("module", list(BUILT_IN))
async def test_built_in_agent_publishes_its_commands(module: str) -> None:
    app = importlib.import_module(module).build(AgentSettings(auth="none", max_request_mb=8))
    async with serve(app) as url:
        status, body = await get_json(f"{url}/v1/manifest")
    assert status == 200
    manifest = AgentManifest.model_validate(body)
    assert sorted(c.name for c in manifest.commands) == sorted(BUILT_IN[module])
    assert manifest.protocol == PROTOCOL_VERSION and protocol_major(manifest.protocol) == 1
    assert manifest.version
    for command in manifest.commands:
        spec = COMMANDS[command.name]
        # The schema is the validating model's own, not a hand-written copy.
        assert command.args_schema == spec.args.model_json_schema()
        assert command.description == spec.summary and command.examples[0] == spec.example
        assert command.limits.max_upload_bytes == 8 * 2**20
        assert command.limits.timeout_s == 300
        assert command.files.min == (1 if spec.needs_file else 0)


async def test_manifest_details_for_chart() -> None:
    app = importlib.import_module("agents.data_analysis.app").build(AgentSettings(auth="none"))
    async with serve(app) as url:
        _, body = await get_json(f"{url}/v1/manifest")
    chart = next(c for c in AgentManifest.model_validate(body).commands if c.name == "chart")
    assert chart.args_schema["properties"]["kind"]["enum"] == ["line", "bar", "histogram", "scatter"]
    assert chart.files.kinds == ["text/", "application/"] and chart.files.max == 1
    assert chart.positional == ["kind"]
    assert chart.costs_money is False


async def test_manifest_is_authenticated_like_every_route() -> None:
    settings = AgentSettings(
        auth="google", audience="https://x.a.run.app", certs_url="http://127.0.0.1:9/certs"
    )
    app = importlib.import_module("agents.web_scraper.app").build(settings)
    async with serve(app) as url:
        status, body = await get_json(f"{url}/v1/manifest")
        health, _ = await get_json(f"{url}/health")
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    assert health == 200


class ShoutArgs(CommandArgs):
    text: str = Field(min_length=1, max_length=200, description="what to shout")
    times: int = Field(default=1, ge=1, le=5, description="how many times")


async def test_an_agent_outside_the_protocol_table_describes_and_serves_its_command() -> None:
    async def shout(job: Job) -> Output:
        return Output(text=" ".join([job.args.text.upper()] * job.args.times))

    spec = AgentSpec(
        name="shouter",
        handlers={"shout": shout},
        commands=[
            CommandSpec(
                command="shout",
                family="shouter",
                args=ShoutArgs,
                summary="Shout text back",
                usage="shout <text> [times=1]",
                example="!shout hello times=2",
            )
        ],
    )
    async with serve(create_agent_app(spec, AgentSettings(auth="none"))) as url:
        _, body = await get_json(f"{url}/v1/manifest")
        manifest = AgentManifest.model_validate(body)
        assert manifest.commands[0].args_schema["properties"]["times"]["maximum"] == 5
        req = {
            "job_id": "j1",
            "command": "shout",
            "args": {"text": "hi", "times": 2},
            "context": {"user_id": "1"},
        }
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{url}/v1/shout", json=req) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["text"] == "HI HI"
            bad = {**req, "job_id": "j2", "args": {"text": "hi", "times": 9}}
            async with s.post(f"{url}/v1/shout", json=bad) as r:
                assert r.status == 422 and "times" in (await r.json())["error"]["message"]


def test_an_agent_without_a_spec_for_its_command_is_refused_at_build() -> None:
    async def nothing(job: Job) -> Output:
        return Output()

    with pytest.raises(ValueError, match="no CommandSpec"):
        create_agent_app(AgentSpec(name="x", handlers={"mystery": nothing}), AgentSettings(auth="none"))


@pytest.mark.parametrize("module", list(BUILT_IN))
def test_serving_the_manifest_imports_no_engine(module: str) -> None:
    """Cold start must not grow: building the app and its manifest loads no engine (polars,
    matplotlib, playwright, numpy…) beyond what the agent's module itself imports (image-gen's
    PIL, already at module level), nor google-auth's token transport (requests, compute_engine):
    only a call to a Google API loads it (agents/common/google_token.py)."""
    code = """
import importlib, json, sys
HEAVY = ("polars", "PIL", "matplotlib", "playwright", "pandas", "numpy",
         "requests", "google.auth.compute_engine")
mod = importlib.import_module("MODULE")
before = [n for n in HEAVY if n in sys.modules]
from agents.common import AgentSettings, MANIFEST
app = mod.build(AgentSettings(auth="none"))
app[MANIFEST].model_dump_json()
print(json.dumps([before, [n for n in HEAVY if n in sys.modules]]))
""".replace("MODULE", module)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert after == before
    assert not set(after) - {"PIL"}
