"""Each agent starts with exactly the env `scripts/deploy-agents` renders into its service.yaml,
and enforces the allowed-callers list that env carries."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest
import yaml

from spotrun.protocol import COMMANDS
from tests.deploy import dockerfile
from tests.deploy.test_deploy_script import BASE_ARGS, BOT_SA, SCRIPT
from tests.fakes.metadata import FakeMetadataServer
from tests.helpers import ROOT, free_port, wait_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

AGENT_NAMES = ["image-gen", "web-scraper", "data-analysis", "audio-video"]


def rendered_services() -> dict[str, dict]:
    """The service specs exactly as `deploy-agents --dry-run` prints what it hands to gcloud."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *BASE_ARGS, "--project-number", "123456789", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    specs: dict[str, dict] = {}
    for name, body in re.findall(
        r"^# service-([a-z-]+)\.yaml:\n(.*?)(?=^DRY-RUN )", done.stdout, re.M | re.S
    ):
        specs[name] = yaml.safe_load(body)
    assert sorted(specs) == sorted(AGENT_NAMES)
    return specs


def container_env(spec: dict) -> dict[str, str]:
    (container,) = spec["spec"]["template"]["spec"]["containers"]
    return {e["name"]: str(e["value"]) for e in container["env"]}


def entrypoint(agent: str) -> list[str]:
    """The image's ENTRYPOINT (from the Dockerfile stage AGENT=agent builds), with the `spotrun`
    console script run from this checkout."""
    argv = dockerfile.image(agent).entrypoint
    assert argv[:1] == ["spotrun"], f"AGENT={agent}: ENTRYPOINT {argv}"
    return [sys.executable, "-m", "spotrun", *argv[1:]]


def image_env(agent: str) -> dict[str, str]:
    """The SPOTRUN_* variables the image's Dockerfile stages set with ENV (service.yaml's env wins)."""
    return {k: v for k, v in dockerfile.image(agent).env.items() if k.startswith("SPOTRUN_")}


def agent_of(spec: dict) -> str:
    """The agent whose image the spec deploys: .../spotrun/<agent>:<tag>."""
    image = spec["spec"]["template"]["spec"]["containers"][0]["image"]
    return image.rsplit("/", 1)[-1].split(":")[0]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, dict[str, str]]]]:
    """All four agents as Cloud Run would run them: rendered env + PORT; certificates on loopback."""
    from tests.conftest import _METADATA

    base = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTRUN_", "GOOGLE_CLOUD_PROJECT"))}
    logs = tmp_path_factory.mktemp("deployed")
    procs: list[subprocess.Popen[bytes]] = []
    agents: dict[str, tuple[str, dict[str, str]]] = {}
    try:
        for name, spec in rendered_services().items():
            env = container_env(spec)
            port = free_port()
            full = {
                **base,
                **image_env(agent_of(spec)),
                **env,
                "PORT": str(port),  # Cloud Run sets it
                # The one addition: Google's certificate endpoint is not reachable from a test.
                "SPOTRUN_AGENT_CERTS_URL": _METADATA.certs_url,
            }
            with open(logs / f"{name}.log", "wb") as sink:
                procs.append(
                    subprocess.Popen(
                        entrypoint(agent_of(spec)),
                        env=full,
                        cwd=ROOT,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                    )
                )
            agents[name] = (f"http://127.0.0.1:{port}", env)

        async def all_up() -> None:
            await asyncio.gather(
                *(
                    wait_http(f"{url}/health", 120, proc)
                    for (url, _), proc in zip(agents.values(), procs, strict=True)
                )
            )

        try:
            asyncio.run(all_up())
        except (RuntimeError, TimeoutError) as exc:
            output = {n: (logs / f"{n}.log").read_text(errors="replace")[-1500:] for n in agents}
            pytest.fail(f"{exc}\n{output}")
        yield agents
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def call(url: str, command: str, token: str) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{url}/v1/{command}",
            data=b"{}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as resp,
    ):
        return resp.status, await resp.json()


@pytest.mark.parametrize("name", AGENT_NAMES)
def test_agent_starts_with_the_rendered_env_and_admits_only_the_bot(
    deployed: dict[str, tuple[str, dict[str, str]]], metadata: FakeMetadataServer, name: str
) -> None:
    url, env = deployed[name]
    assert env["SPOTRUN_AGENT_ALLOWED_CALLERS"] == BOT_SA  # what an operator gets from the script
    audience = env["SPOTRUN_AGENT_AUDIENCE"]
    command = next(c for c, spec in COMMANDS.items() if spec.family == name)

    # The bot's identity passes auth and reaches validation (an empty body is a 422).
    status, body = asyncio.run(call(url, command, metadata.mint(audience, email=BOT_SA)))
    assert status == 422 and body["error"]["code"] == "invalid_argument", body

    # Any other Google-signed identity for the same audience is refused.
    other = "someone-else@demo-proj.iam.gserviceaccount.com"
    status, body = asyncio.run(call(url, command, metadata.mint(audience, email=other)))
    assert status == 403 and body["error"]["code"] == "forbidden", body
    assert body["error"]["retryable"] is False


def test_an_agent_without_allowed_callers_warns_at_startup() -> None:
    """Dropping the variable (the tempting workaround when it failed to parse) admits any
    Google-signed token for the audience: the operator is told in the startup log."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTRUN_")}
    env.update(
        {
            "PORT": str(port),
            "SPOTRUN_AGENT_AUTH": "google",
            "SPOTRUN_AGENT_AUDIENCE": "https://data-analysis-1.europe-west1.run.app",
            "SPOTRUN_AGENT_LOG_FORMAT": "json",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "agents.data_analysis"], env=env, cwd=ROOT, stderr=subprocess.PIPE
    )
    try:
        asyncio.run(wait_http(f"http://127.0.0.1:{port}/health", 60, proc))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    warnings = [
        json.loads(line)
        for line in err.decode().splitlines()
        if line.startswith("{") and "ALLOWED_CALLERS" in line
    ]
    assert len(warnings) == 1 and warnings[0]["severity"] == "WARNING"
