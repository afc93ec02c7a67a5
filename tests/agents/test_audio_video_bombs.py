"""Media bombs against the real audio-video agent process: probed before decoding, capped, killed in time.

Budgets are stated against the Cloud Run limit in agents/audio_video/service.yaml (4 GiB).
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from tests.agents.bombs import MIB, PeakRss, mkv_bomb
from tests.helpers import agent_process, wait_http

SERVICE_LIMIT = 4096 * MIB  # agents/audio_video/service.yaml
ONE_JOB_BUDGET = 512 * MIB
ENV = {"SPOTRUN_AGENT_REQUEST_DEADLINE_S": "295", "SPOTRUN_AGENT_MEMORY_MB": "4096"}


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2.2 MB: three 16000×16000 frames (768 MB each decoded) and 3 s of tone."""
    return mkv_bomb(tmp_path_factory.mktemp("bombs") / "bomb.mkv").read_bytes()


async def _call(
    url: str, command: str, args: dict[str, Any], name: str, data: bytes, deadline_s: float | None = None
) -> tuple[int, dict[str, Any]]:
    job_id = uuid.uuid4().hex
    body = {
        "job_id": job_id,
        "command": command,
        "args": args,
        "files": [
            {"name": name, "content_type": "video/x-matroska", "data": base64.b64encode(data).decode()}
        ],
        "context": {"user_id": "7"},
        "deadline_s": deadline_s,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/{command}", json=body, headers={"Idempotency-Key": job_id}) as resp,
    ):
        return resp.status, await resp.json()


async def _health_ms(url: str) -> float:
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            assert resp.status == 200
        return (time.monotonic() - started) * 1000


def _tools_running(pid: int) -> list[str]:
    return [
        p.name() for p in psutil.Process(pid).children(recursive=True) if p.name() in {"ffmpeg", "ffprobe"}
    ]


@pytest.mark.slow
async def test_convert_refuses_16000px_frames_before_decoding(bomb: bytes) -> None:
    with agent_process("agents.audio_video", ENV) as (proc, url):
        await wait_http(f"{url}/health", 20, proc)
        with PeakRss(proc.pid) as meter:
            status, body = await _call(url, "convert", {"target": "mp4"}, "bomb.mkv", bomb)
    print(f"\nconvert mp4 of the 16000×16000 MKV ({len(bomb) / MIB:.1f} MiB): {status}; {meter.report()}")
    assert status == 413, body
    message = body["error"]["message"]
    assert "16000×16000" in message and "8.3 MP (3840×2160)" in message, message
    assert body["error"]["retryable"] is False
    assert meter.peak < ONE_JOB_BUDGET


@pytest.mark.slow
async def test_audio_of_the_bomb_converts_without_decoding_its_frames(bomb: bytes) -> None:
    """An audio target drops the video: its frames must not be decoded even while probing."""
    with agent_process("agents.audio_video", ENV) as (proc, url):
        await wait_http(f"{url}/health", 20, proc)
        with PeakRss(proc.pid) as meter:
            status, body = await _call(url, "convert", {"target": "mp3"}, "bomb.mkv", bomb)
            t_status, t_body = await _call(url, "transcribe", {}, "bomb.mkv", bomb)
    print(f"\nmp3 + transcribe of the bomb: {status}, {t_status}; {meter.report()}")
    assert status == 200, body
    assert t_status == 200, t_body
    assert meter.peak < ONE_JOB_BUDGET


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_four_bombs_at_once_leave_the_agent_answering(bomb: bytes) -> None:
    with agent_process("agents.audio_video", ENV) as (proc, url):
        await wait_http(f"{url}/health", 20, proc)
        with PeakRss(proc.pid) as meter:
            jobs = [
                asyncio.create_task(_call(url, "convert", {"target": t}, f"b{i}.mkv", bomb))
                for i, t in enumerate(["mp4", "webm", "gif", "mp4", "mp3", "mp4"])
            ]
            health = []
            while not all(j.done() for j in jobs):
                health.append(await _health_ms(url))
                await asyncio.sleep(0.2)
            results = [j.result() for j in jobs]
        await asyncio.sleep(0.5)
        left = _tools_running(proc.pid)
        assert proc.poll() is None, "the agent died"
    statuses = [s for s, _ in results]
    print(f"\n6 bombs at once: {statuses}; {meter.report()}; /health max {max(health):.0f} ms")
    assert statuses == [413, 413, 413, 413, 200, 413], results
    assert meter.peak < SERVICE_LIMIT // 4  # far under the 4 GiB instance: each is refused from its probe
    assert max(health) < 1000
    assert left == []


@pytest.mark.slow
async def test_ffmpeg_past_the_deadline_is_killed_and_not_retried(tmp_path: Path) -> None:
    """Legitimate but slow (30 s of 720p to VP9 takes many seconds on 2 cores), with a 2 s deadline."""
    src = tmp_path / "long.mp4"
    make = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1280x720:d=30:r=30"]
    make += ["-c:v", "mpeg4", "-q:v", "10", str(src)]
    await asyncio.to_thread(subprocess.run, make, check=True, timeout=120)
    data = src.read_bytes()
    with agent_process("agents.audio_video", ENV) as (proc, url):
        await wait_http(f"{url}/health", 20, proc)
        started = time.monotonic()
        status, body = await _call(url, "convert", {"target": "webm"}, "long.mp4", data, deadline_s=2)
        took = time.monotonic() - started
        await asyncio.sleep(0.3)
        left = _tools_running(proc.pid)
    print(f"\n30 s 720p → webm with a 2 s deadline: {status} in {took:.1f}s; tools left: {left}")
    assert status == 504, body
    assert body["error"]["code"] == "timeout" and body["error"]["retryable"] is False, body
    assert took < 3.5
    assert left == []


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_4k_video_at_the_frame_cap_still_converts(tmp_path: Path) -> None:
    """The caps must not refuse real work: 3840×2160 (the cap) converts within them, twice at once."""
    src = tmp_path / "uhd.mp4"
    make = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=3840x2160:d=3:r=30"]
    make += [
        "-f",
        "lavfi",
        "-i",
        "sine=d=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        str(src),
    ]
    await asyncio.to_thread(subprocess.run, make, check=True, timeout=120)
    data = src.read_bytes()
    with agent_process("agents.audio_video", ENV) as (proc, url):
        await wait_http(f"{url}/health", 20, proc)
        with PeakRss(proc.pid) as one:
            status, body = await _call(url, "convert", {"target": "webm"}, "uhd.mp4", data)
        assert status == 200, body
        with PeakRss(proc.pid) as two:
            results = await asyncio.gather(
                _call(url, "convert", {"target": "mp4"}, "a.mp4", data),
                _call(url, "convert", {"target": "gif"}, "b.mp4", data),
            )
    print(f"\n4K 3 s → webm: {one.report()}; mp4 + gif at once: {[s for s, _ in results]}, {two.report()}")
    assert [s for s, _ in results] == [200, 200], results
    assert one.peak < 1536 * MIB and two.peak < SERVICE_LIMIT // 2


async def test_ffmpeg_over_its_memory_cap_fails_alone_with_a_413(tmp_path: Path) -> None:
    """RLIMIT_AS really applies to the child: a 4K decode under a 300 MiB cap fails, named as such."""
    from agents.audio_video import ffmpeg
    from agents.common import AgentFailure

    src = tmp_path / "uhd.mp4"
    make = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=3840x2160:d=1:r=5"]
    await asyncio.to_thread(
        subprocess.run, [*make, "-c:v", "libx264", "-preset", "ultrafast", str(src)], check=True
    )
    # Decode only: a decoder reports its refused frame buffers plainly (an encoder may fail to open silently).
    args = ["-threads", "4", "-i", str(src), "-f", "null", "-"]
    await ffmpeg.ffmpeg(args, 60, "convert uhd.mp4", memory_mb=1536)  # fits the default cap
    with pytest.raises(AgentFailure) as info:
        await ffmpeg.ffmpeg(args, 60, "convert uhd.mp4", memory_mb=300)
    assert info.value.status == 413 and "300 MiB" in info.value.message, info.value.message
