"""Start real agent processes for benchmarks and call them through the protocol."""

from __future__ import annotations

import base64
import subprocess
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import aiohttp

from agents import AGENTS
from tests import helpers
from tests.helpers import wait_http


def agent_process(
    name: str, env: dict[str, str] | None = None
) -> AbstractContextManager[tuple[subprocess.Popen[bytes], str]]:
    """An agent by its CLI name, with quiet logs (they would interleave with the bench table)."""
    quiet = {"SPOTRUN_AGENT_LOG_LEVEL": "WARNING", "MPLCONFIGDIR": "/tmp/spotrun-mpl"}
    return helpers.agent_process(AGENTS[name], {**quiet, **(env or {})})


async def ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    await wait_http(f"{url}/health", timeout_s=60, proc=proc)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def request(
    command: str, args: dict[str, Any], files: list[tuple[str, str, bytes]] = (), job: str = ""
) -> dict:
    return {
        "job_id": job or f"bench-{time.monotonic_ns()}",
        "command": command,
        "args": args,
        "files": [
            {"name": n, "content_type": ct, "data": base64.b64encode(d).decode()} for n, ct, d in files
        ],
        "context": {"user_id": "1"},
        "deadline_s": 600,
    }


async def call(url: str, command: str, body: dict) -> dict:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{url}/v1/{command}", json=body, timeout=aiohttp.ClientTimeout(total=600)) as r,
    ):
        payload = await r.json()
        if r.status != 200:
            raise RuntimeError(f"{command} failed: {r.status} {payload}")
        return payload


async def call_raw(url: str, command: str, body: bytes, content_type: str, job: str) -> dict:
    """One request with a body already encoded (JSON or multipart), as the bot sends it."""
    headers = {"Content-Type": content_type, "Idempotency-Key": job}
    timeout = aiohttp.ClientTimeout(total=600)
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{url}/v1/{command}", data=body, headers=headers, timeout=timeout) as r,
    ):
        payload = await r.json()
        if r.status != 200:
            raise RuntimeError(f"{command} failed: {r.status} {payload}")
        return payload
