"""`python -m agents.audio_video` as a real process: /health answers fast, then one real command."""

from __future__ import annotations

import asyncio
import subprocess
import time

import aiohttp
import pytest

from spotrun.protocol import AgentResult
from tests.helpers import agent_process, wait_http


@pytest.mark.slow
async def test_process_health_then_tts() -> None:
    started = time.monotonic()
    with agent_process("agents.audio_video") as (proc, base):
        await wait_http(f"{base}/health", timeout_s=20, proc=proc)
        ready_s = time.monotonic() - started
        async with aiohttp.ClientSession() as session:
            t0 = time.monotonic()
            async with session.get(f"{base}/health") as resp:
                health = await resp.json()
            health_ms = (time.monotonic() - t0) * 1000
            assert health["agent"] == "audio-video" and health["status"] == "ok"
            assert set(health["commands"]) == {"convert", "tts", "transcribe"}
            assert health_ms < 500, f"/health took {health_ms:.0f} ms"
            body = {
                "job_id": "proc-tts-1",
                "command": "tts",
                "args": {"text": "ready", "format": "ogg"},
                "context": {"user_id": "1"},
            }
            async with session.post(f"{base}/v1/tts", json=body) as resp:
                assert resp.status == 200, await resp.text()
                result = AgentResult.model_validate(await resp.json())
        audio = result.files[0].data
        assert audio[:4] == b"OggS"
        probed = await asyncio.to_thread(
            subprocess.run,
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", "-"],
            input=audio,
            capture_output=True,
            check=True,
            timeout=30,
        )
        assert probed.stdout.strip() == b"opus"
        print(f"ready in {ready_s:.2f}s, /health {health_ms:.1f} ms, tts {result.usage.duration_ms:.0f} ms")
