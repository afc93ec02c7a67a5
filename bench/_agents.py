"""Start real agent processes for benchmarks and call them through the protocol."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from agents import AGENTS
from tests.helpers import ROOT, free_port, wait_http


@contextmanager
def agent_process(
    name: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    full = {
        **os.environ,
        "PORT": str(port),
        "SPOTRUN_AGENT_AUTH": "none",
        "SPOTRUN_AGENT_LOG_LEVEL": "WARNING",
        "MPLCONFIGDIR": "/tmp/spotrun-mpl",
        **(env or {}),
    }
    proc = subprocess.Popen([sys.executable, "-m", AGENTS[name]], env=full, cwd=ROOT)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
