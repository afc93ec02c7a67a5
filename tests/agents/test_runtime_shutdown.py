"""Graceful SIGTERM: an in-flight request finishes (or is cut) within the grace period; no new work."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp

from tests.agent_client.conftest import tts_request
from tests.helpers import free_port, start_process, wait_http


async def _run(seconds: float, grace: float) -> tuple[int | None, float, int]:
    port = free_port()
    proc = start_process(
        ["tests.agents.slow_agent"],
        env={
            "PORT": str(port),
            "SPOTRUN_AGENT_AUTH": "none",
            "SLOW_AGENT_SECONDS": str(seconds),
            "SPOTRUN_AGENT_SHUTDOWN_GRACE_S": str(grace),
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http(f"{url}/health", proc=proc)
        async with aiohttp.ClientSession() as s:
            call = asyncio.ensure_future(
                s.post(f"{url}/v1/tts", data=tts_request("sigterm").model_dump_json())
            )
            await asyncio.sleep(0.5)  # the request is in the handler now
            proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            try:
                resp = await call
                status: int | None = resp.status
                await resp.read()
            except aiohttp.ClientError:
                status = None  # cut off after the grace period
            code = await asyncio.to_thread(proc.wait, 15)
            return status, time.monotonic() - sent, code
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def test_in_flight_request_finishes_after_sigterm():
    status, stopped_after, code = await _run(seconds=2.0, grace=8.0)
    assert status == 200, "the running job must be allowed to finish"
    assert stopped_after < 10, f"Cloud Run kills at 10 s; stopped after {stopped_after:.1f}s"
    assert code is not None


async def test_too_slow_request_is_cut_at_the_grace_period():
    status, stopped_after, _ = await _run(seconds=60.0, grace=1.5)
    assert status != 200
    assert stopped_after < 5, f"must stop near the 1.5 s grace, took {stopped_after:.1f}s"
