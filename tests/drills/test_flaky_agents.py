"""Drill: an agent that fails ~30 % of calls (503, connection resets, hangs, trickling bodies) plus a
one-second total outage, called through the real agent_client with a per-job deadline. Every job
ends succeeded or with a clear message within its deadline; the breaker opens and closes again."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from agent_client import AgentClient, AgentError, AgentRegistry, create_session
from bot.frontends.messages import describe_agent_error
from spotrun.protocol import AgentRequest, AgentResult, CallerContext, Command, TtsArgs, Usage
from tests.helpers import serve

pytestmark = pytest.mark.timeout(120)

JOBS, CONCURRENCY, DEADLINE_S = 200, 10, 4.0
AGENT = "audio-video"
FAULTS = {"ok": 0.70, "503": 0.08, "reset": 0.08, "hang": 0.07, "trickle": 0.07}


class FaultyAgent:
    """A protocol agent that draws a fault per call (seeded) and can be taken down entirely."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.drawn: collections.Counter[str] = collections.Counter()
        self.outage = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/{command}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        fault = "outage" if self.outage else self.rng.choices(list(FAULTS), list(FAULTS.values()))[0]
        self.drawn[fault] += 1
        if fault in ("503", "outage"):
            err = {"error": {"code": "unavailable", "message": "injected", "retryable": True}}
            return web.json_response(err, status=503)
        if fault == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if fault == "hang":
            await asyncio.sleep(3600)
        result = AgentResult(
            job_id=body["job_id"], command=Command.TTS, text="ok", usage=Usage(duration_ms=20)
        ).model_dump_json()
        if fault == "trickle":  # headers at once, then the body a byte every 0.5 s
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.content_length = len(result)
            await resp.prepare(request)
            for ch in result:
                await resp.write(ch.encode())
                await asyncio.sleep(0.5)
            return resp
        await asyncio.sleep(0.02)
        return web.Response(text=result, content_type="application/json")


@pytest.fixture
async def faulty() -> AsyncIterator[tuple[FaultyAgent, str]]:
    agent = FaultyAgent()
    async with serve(agent.app()) as url:
        yield agent, url


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_every_job_ends_within_its_deadline(faulty: tuple[FaultyAgent, str]) -> None:
    agent, url = faulty
    registry = AgentRegistry.from_data(
        {
            "agents": [
                {
                    "name": AGENT,
                    "base_url": url,
                    "auth": "none",
                    "commands": ["tts"],
                    "timeout_s": 1.0,  # one attempt; the job deadline bounds the retries
                    "retries": 3,
                    "max_concurrency": CONCURRENCY,
                    "breaker_failures": 5,
                    "breaker_cooldown_s": 0.5,
                }
            ]
        }
    )
    retries_before = sum(
        s.value
        for m in REGISTRY.collect()
        if m.name == "spotrun_agent_retries"
        for s in m.samples
        if s.name == "spotrun_agent_retries_total" and s.labels.get("agent") == AGENT
    )
    outcomes: list[tuple[str, float, str]] = []
    breaker_seen: set[float] = set()

    async def job(i: int) -> None:
        req = AgentRequest(
            job_id=f"flaky-{i}",
            command=Command.TTS,
            args=TtsArgs(text="hi"),
            context=CallerContext(user_id="1"),
        )
        t0 = time.monotonic()
        try:
            await client.call(req, deadline_s=DEADLINE_S)
            outcomes.append(("ok", time.monotonic() - t0, ""))
        except AgentError as exc:
            outcomes.append((type(exc).__name__, time.monotonic() - t0, describe_agent_error(exc)))

    async def watch_breaker() -> None:
        while True:
            breaker_seen.add(sample("spotrun_agent_breaker_state", agent=AGENT))
            await asyncio.sleep(0.01)

    async def outage_for_one_second() -> None:
        await asyncio.sleep(2.0)
        agent.outage = True
        await asyncio.sleep(1.0)
        agent.outage = False

    started = time.monotonic()
    async with create_session() as session:
        client = AgentClient(registry, session, None, backoff_initial_s=0.05, backoff_max_s=0.3)
        watcher = asyncio.create_task(watch_breaker())
        outage = asyncio.create_task(outage_for_one_second())
        sem = asyncio.Semaphore(CONCURRENCY * 2)

        async def bounded(i: int) -> None:
            async with sem:
                await job(i)

        await asyncio.wait_for(asyncio.gather(*(bounded(i) for i in range(JOBS))), timeout=90)
        await outage
        # The gauge stays "open" until a call probes; after the cooldown, calls close it again.
        recovered_after = None
        for attempt in range(20):
            await asyncio.sleep(0.6)
            await job(JOBS + attempt)
            if outcomes.pop()[0] == "ok":
                recovered_after = attempt + 1
                break
        watcher.cancel()
    wall = time.monotonic() - started

    retries = (
        sum(
            s.value
            for m in REGISTRY.collect()
            if m.name == "spotrun_agent_retries"
            for s in m.samples
            if s.name == "spotrun_agent_retries_total" and s.labels.get("agent") == AGENT
        )
        - retries_before
    )
    kinds = collections.Counter(k for k, _, _ in outcomes)
    slowest = max(t for _, t, _ in outcomes)
    injected = sum(n for f, n in agent.drawn.items() if f != "ok")
    print(
        f"\n[flaky] {JOBS} jobs in {wall:.1f}s; {sum(agent.drawn.values())} agent calls, {injected} faults "
        f"injected {dict(agent.drawn)}; outcomes {dict(kinds)}; retries {retries:.0f}; breaker states seen "
        f"{sorted(breaker_seen)} (0 closed, 1 half-open, 2 open); slowest job {slowest:.2f}s vs deadline "
        f"{DEADLINE_S}s; closed again after {recovered_after} probe(s)"
    )
    for text in sorted({t for k, _, t in outcomes if k != "ok"}):
        print(f"  user sees: {text}")
    assert len(outcomes) == JOBS, "a job neither succeeded nor failed"
    assert slowest <= DEADLINE_S + 0.5, f"a job ran {slowest:.2f}s past its {DEADLINE_S}s deadline"
    assert kinds["ok"] >= JOBS * 0.4, f"retries should rescue many jobs: {dict(kinds)}"
    assert all(t and "Traceback" not in t for k, t in ((k, t) for k, _, t in outcomes) if k != "ok")
    assert retries > 0 and 2.0 in breaker_seen, "retries and an open breaker should be visible in metrics"
    assert recovered_after is not None and sample("spotrun_agent_breaker_state", agent=AGENT) == 0.0
