"""Image bombs against the real image-gen agent process: refused before decoding, bounded, stopped in time.

Budgets are stated against the Cloud Run limit in agents/image_gen/service.yaml (2 GiB).
"""

from __future__ import annotations

import asyncio
import io
import os
import time

import aiohttp
import psutil
import pytest
from PIL import Image

from tests.agents.bombs import MIB, PeakRss, png_bomb
from tests.agents.test_image_gen_support import call
from tests.helpers import agent_process, wait_http

SERVICE_LIMIT = 2048 * MIB  # agents/image_gen/service.yaml
ONE_JOB_BUDGET = 1024 * MIB
# As deployed (service.yaml): the deadline and the instance memory that size the heavy slots.
ENV = {"SPOTRUN_AGENT_REQUEST_DEADLINE_S": "55", "SPOTRUN_AGENT_MEMORY_MB": "2048"}


def noise_png(side: int, mode: str = "RGBA") -> bytes:
    """Incompressible pixels: the worst case for every encoder (a ~9 MB PNG at 1500×1500 RGBA)."""
    img = Image.frombytes(mode, (side, side), os.urandom(side * side * len(mode)))
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


async def _health_ms(url: str) -> float:
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            assert resp.status == 200
        return (time.monotonic() - started) * 1000


def _tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


async def _cpu_percent(pid: int, over_s: float) -> float:
    """CPU used by a process and its descendants over the next `over_s` (100 = one core)."""
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for p in tree:
        p.cpu_percent(None)
    await asyncio.sleep(over_s)
    total = 0.0
    for p in tree:
        try:
            total += p.cpu_percent(None)
        except psutil.NoSuchProcess:
            continue
    return total


@pytest.mark.slow
async def test_huge_dimensions_are_refused_from_the_header() -> None:
    bomb = png_bomb(20000, 20000)  # ~1.5 MB of zeros, 1.6 GB decoded
    with agent_process("agents.image_gen", ENV) as (proc, url):
        await wait_http(f"{url}/health", 20, proc)
        with PeakRss(proc.pid) as meter:
            status, body = await call(url, "enhance", {"scale": 2}, [("bomb.png", "image/png", bomb)])
    print(f"\n20000×20000 PNG ({len(bomb) / MIB:.1f} MiB): {status}; {meter.report()}")
    assert status == 413, body
    assert "20000×20000" in body["error"]["message"] and "limit" in body["error"]["message"]
    assert meter.peak < 400 * MIB


@pytest.mark.slow
async def test_scale_4_of_a_9mb_transparent_png_is_refused_before_decoding() -> None:
    """The bomb of issue 15: 1500×1500 RGBA ×4 = 6000×6000 (36 MP) took 1.6 GB and ran past its deadline."""
    bomb = noise_png(1500)
    with agent_process("agents.image_gen", ENV) as (proc, url):
        await wait_http(f"{url}/health", 20, proc)
        with PeakRss(proc.pid) as meter:
            started = time.monotonic()
            status, body = await call(url, "enhance", {"scale": 4}, [("bomb.png", "image/png", bomb)])
            took = time.monotonic() - started
    print(f"\n1500×1500 RGBA ×4 ({len(bomb) / MIB:.1f} MiB): {status} in {took:.1f}s; {meter.report()}")
    assert status == 413, body
    message = body["error"]["message"]
    assert "6000×6000" in message and "16.8 MP" in message, message
    assert body["error"]["retryable"] is False
    assert meter.peak < 400 * MIB and took < 5


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_four_enhances_at_the_cap_stay_under_the_instance_limit() -> None:
    """Four 1024×1024 RGBA ×4 (16.8 MP out, the cap) at once: bounded, /health answers, memory comes back."""
    bomb = noise_png(1024)
    with agent_process("agents.image_gen", ENV) as (proc, url):
        await wait_http(f"{url}/health", 20, proc)
        # One small job first: the forkserver has then imported Pillow, so the baseline includes it.
        status, _ = await call(url, "enhance", {"scale": 2}, [("w.png", "image/png", noise_png(64))])
        assert status == 200
        baseline = _tree_rss(proc.pid)
        with PeakRss(proc.pid) as meter:
            jobs = [
                asyncio.create_task(call(url, "enhance", {"scale": 4}, [(f"b{i}.png", "image/png", bomb)]))
                for i in range(4)
            ]
            health = []
            while not all(j.done() for j in jobs):
                health.append(await _health_ms(url))
                await asyncio.sleep(0.5)
            results = [j.result() for j in jobs]
        await asyncio.sleep(1)
        after = _tree_rss(proc.pid)
        # Job processes are forked by the forkserver: grandchildren of the agent.
        jobs_left = [
            g
            for c in psutil.Process(proc.pid).children()
            for g in c.children(recursive=True)
            if g.status() != psutil.STATUS_ZOMBIE
        ]
    statuses = [s for s, _ in results]
    print(
        f"\n4 × 1024×1024 RGBA ×4: {statuses}; {meter.report()}; /health max {max(health):.0f} ms; "
        f"tree RSS after {after / MIB:.0f} MiB (at start {baseline / MIB:.0f} MiB)"
    )
    for status, body in results:
        # Each either succeeds, or is told plainly why not (instance busy, memory or time limit).
        assert status in {200, 413, 429, 504}, body
        if status != 200:
            assert body["error"]["code"] in {"payload_too_large", "rate_limited", "timeout"}, body
    assert 200 in statuses
    assert meter.peak < SERVICE_LIMIT - 256 * MIB
    assert max(health) < 1000
    # The work's memory went away with its child processes; the agent keeps what it answered
    # (4 × ~11 MB replies in its idempotency cache) and the allocator's free lists.
    assert after < baseline + 256 * MIB
    assert jobs_left == []  # no job process outlives its answer


@pytest.mark.slow
async def test_work_past_its_deadline_is_killed_and_not_retryable() -> None:
    bomb = noise_png(1024)
    with agent_process("agents.image_gen", ENV) as (proc, url):
        await wait_http(f"{url}/health", 20, proc)
        with PeakRss(proc.pid) as meter:
            started = time.monotonic()
            status, body = await call(
                url, "enhance", {"scale": 4}, [("b.png", "image/png", bomb)], deadline_s=2
            )
            took = time.monotonic() - started
        busy = await _cpu_percent(proc.pid, 1.0)
    print(f"\ndeadline 2 s: {status} in {took:.1f}s; {meter.report()}; CPU of the tree after: {busy:.0f} %")
    assert status == 504, body
    assert body["error"]["code"] == "timeout" and body["error"]["retryable"] is False, body
    assert took < 4
    assert busy < 30  # nothing keeps computing an answer nobody will read


async def test_a_providers_huge_image_is_refused_from_its_header() -> None:
    """Provider output is untrusted too: a 20000×20000 answer is never decoded."""
    from tests.agents.test_image_gen_support import fake, image_agent
    from tests.fakes.openai_images import FakeOpenAIImages

    provider = FakeOpenAIImages()
    provider.image = png_bomb(20000, 20000)
    settings = {"provider": "openai", "openai_api_key": provider.api_key}
    async with fake(provider) as base, image_agent(openai_base_url=base, **settings) as url:
        status, body = await call(url, "generate", {"prompt": "a lighthouse", "size": "256x256"})
    assert status == 502, body
    assert body["error"]["code"] == "provider_error" and body["error"]["retryable"] is False
    assert "20000×20000" in body["error"]["message"] and "16.8 MP" in body["error"]["message"]


async def test_decoded_size_is_capped_from_the_header() -> None:
    from tests.agents.test_image_gen_support import image_agent

    async with image_agent(max_decoded_mb=1) as url:
        status, body = await call(
            url, "enhance", {"scale": 1}, [("big.png", "image/png", png_bomb(1000, 1000))]
        )
    assert status == 413, body
    assert body["error"]["message"] == (
        "'big.png' (1000×1000, RGBA) decodes to 4 MiB; the limit is 1 MiB — attach a smaller image"
    )
