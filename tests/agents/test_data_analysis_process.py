"""`python -m agents.data_analysis` as a real process: /health answers fast, then one real command."""

from __future__ import annotations

import base64
import time

import aiohttp
import pytest

from tests.helpers import agent_process, wait_http


@pytest.mark.slow
async def test_process_health_then_analyze() -> None:
    started = time.monotonic()
    with agent_process("agents.data_analysis") as (proc, base):
        await wait_http(f"{base}/health", timeout_s=20, proc=proc)
        ready_s = time.monotonic() - started
        async with aiohttp.ClientSession() as session:
            t0 = time.monotonic()
            async with session.get(f"{base}/health") as resp:
                health = await resp.json()
            health_ms = (time.monotonic() - t0) * 1000
            assert health["agent"] == "data-analysis" and health["status"] == "ok"
            assert health["engines"]["polars"]["available"] and health["engines"]["matplotlib"]["available"]
            assert set(health["commands"]) == {"analyze", "chart", "predict"}
            assert health_ms < 500, f"/health took {health_ms:.0f} ms"
            csv = "a\n" + "".join(f"{i}\n" for i in range(1, 101))
            body = {
                "job_id": "proc-analyze-1",
                "command": "analyze",
                "args": {},
                "files": [{"name": "a.csv", "data": base64.b64encode(csv.encode()).decode()}],
                "context": {"user_id": "1"},
            }
            async with session.post(f"{base}/v1/analyze", json=body) as resp:
                assert resp.status == 200, await resp.text()
                result = await resp.json()
        assert result["data"]["columns"][0]["stats"]["mean"] == 50.5
        analyze_ms = result["usage"]["duration_ms"]
        print(f"ready in {ready_s:.2f}s, /health {health_ms:.1f} ms, analyze {analyze_ms:.0f} ms")
