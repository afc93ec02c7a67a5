"""The image-gen agent as a real process: `python -m agents.image_gen` answers /health fast and enhances."""

from __future__ import annotations

import subprocess
import time

import aiohttp
import pytest

from tests.agents.test_image_gen_support import call, decode, png
from tests.helpers import free_port, start_process, wait_http


@pytest.mark.slow
async def test_agent_process_health_and_enhance() -> None:
    port = free_port()
    env = {
        "PORT": str(port),
        "SPOTRUN_AGENT_AUTH": "none",
        "SPOTRUN_AGENT_LOG_FORMAT": "json",
        "SPOTRUN_IMAGEGEN_PROVIDER": "openai",
        "SPOTRUN_IMAGEGEN_OPENAI_API_KEY": "sk-process-test-key",
    }
    proc = start_process(["agents.image_gen"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http(f"{url}/health", timeout_s=20, proc=proc)
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            async with session.get(f"{url}/health") as resp:
                health = await resp.json()
            assert time.monotonic() - started < 0.5
        assert health["agent"] == "image-gen" and health["status"] == "ok"
        assert set(health["commands"]) == {"generate", "enhance", "style-transfer"}
        assert health["engines"]["pillow"]["available"] is True
        assert health["engines"]["provider"] == {"available": True, "detail": "openai:dall-e-2"}

        status, body = await call(url, "enhance", {"scale": 2}, [("p.png", "image/png", png(30, 20))])
        assert status == 200, body
        assert decode(body["files"][0]).size == (60, 40)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"sk-process-test-key" not in err
