"""`python -m agents.web_scraper` as a real process: /health answers fast, without heavy imports."""

from __future__ import annotations

import subprocess
import time

import aiohttp
import pytest

from tests.helpers import free_port, start_process, wait_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


async def test_health_answers_quickly_without_importing_trafilatura_or_playwright():
    port = free_port()
    started = time.monotonic()
    # PYTHONPROFILEIMPORTTIME makes the child list every module it imports on stderr.
    proc = start_process(
        ["agents.web_scraper"],
        env={"PORT": str(port), "SPOTRUN_AGENT_AUTH": "none", "PYTHONPROFILEIMPORTTIME": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        await wait_http(f"http://127.0.0.1:{port}/health", timeout_s=20, proc=proc)
        ready_s = time.monotonic() - started
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/health") as resp,
        ):
            report = await resp.json()
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=15)
    assert report["agent"] == "web-scraper" and report["status"] == "ok"
    assert set(report["commands"]) == {"scrape", "extract"}
    assert report["engines"]["selectolax"]["available"] is True
    assert report["engines"]["trafilatura"]["available"] is True
    assert report["engines"]["chromium"]["available"] is False  # off by default
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0] for line in stderr.decode().splitlines() if "|" in line
    }
    assert "aiohttp" in imported, "the import-time profile was not captured"
    assert "trafilatura" not in imported and "playwright" not in imported and "lxml" not in imported
    assert ready_s < 10, f"/health took {ready_s:.1f}s to answer"
    assert proc.returncode is not None
