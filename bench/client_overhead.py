"""agent_client overhead vs the floor (raw aiohttp, fixed header) and vs Google's per-call sample pattern.

The agent runs in its own process so client and server don't share a core or the GIL. "Google
sample" is the pattern of Google's service-to-service example: a fresh `fetch_id_token` and a
new connection for every call.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from bench._util import Row, metadata_server, pct

AUDIENCE = "https://bench-agent.a.run.app"


async def _drive(
    n: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> tuple[list[float], float]:
    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)

    async def timed(i: int) -> None:
        async with sem:
            t0 = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(timed(i) for i in range(n)))
    return latencies, time.perf_counter() - started


async def run(n: int = 2000, concurrency: int = 50, sample_n: int = 300) -> list[Row]:
    meta = metadata_server()
    import aiohttp
    import google.auth.transport.requests
    import google.oauth2.id_token

    from agent_client import AgentClient, AgentRegistry, GoogleIdTokens, create_session
    from spotrun.protocol import AgentRequest, CallerContext, Command, TtsArgs
    from tests.helpers import free_port, wait_http

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench._echo_agent", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http(f"{url}/health", proc=proc)
        registry = AgentRegistry.from_data(
            {
                "agents": [
                    {
                        "name": "bench",
                        "base_url": url,
                        "audience": AUDIENCE,
                        "auth": "google",
                        "commands": ["tts"],
                        "max_concurrency": 1000,
                        "timeout_s": 30,
                    }
                ]
            }
        )

        def request(i: int) -> AgentRequest:
            return AgentRequest(
                job_id=f"b{i}",
                command=Command.TTS,
                args=TtsArgs(text="hi"),
                context=CallerContext(user_id="1"),
            )

        bodies = [request(i).model_dump_json().encode() for i in range(max(n, sample_n))]

        # (a) the floor: raw aiohttp, pooled, fixed header
        async with aiohttp.ClientSession() as raw:

            async def floor_call(i: int) -> None:
                async with raw.post(
                    f"{url}/v1/tts",
                    data=bodies[i],
                    headers={"Authorization": "Bearer fixed", "Content-Type": "application/json"},
                ) as r:
                    await r.read()

            await _drive(100, concurrency, floor_call)  # warm-up
            floor, floor_wall = await _drive(n, concurrency, floor_call)

        # spotrun's client: ID tokens from the metadata server, cached, retries, breaker, limits
        tokens = GoogleIdTokens()
        before = meta.identity_calls
        async with create_session() as session:
            client = AgentClient(registry, session, tokens)
            await _drive(100, concurrency, lambda i: client.call(request(i)))
            ours, ours_wall = await _drive(n, concurrency, lambda i: client.call(request(i)))
        ours_fetches = meta.identity_calls - before
        tokens.close()

        # (b) Google's sample pattern: fetch_id_token + new connection per call
        before = meta.identity_calls

        async def sample_call(i: int) -> None:
            token = await asyncio.to_thread(
                google.oauth2.id_token.fetch_id_token, google.auth.transport.requests.Request(), AUDIENCE
            )
            async with (
                aiohttp.ClientSession() as s,
                s.post(
                    f"{url}/v1/tts",
                    data=bodies[i],
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                ) as r,
            ):
                await r.read()

        sample, sample_wall = await _drive(sample_n, concurrency, sample_call)
        sample_fetches = meta.identity_calls - before
    finally:
        proc.terminate()
        proc.wait(10)

    f50, f99 = pct(floor, 0.5), pct(floor, 0.99)
    rows = [
        Row("client", f"floor p50 (raw aiohttp, C={concurrency})", f50 * 1000, "ms"),
        Row("client", "floor p99", f99 * 1000, "ms"),
        Row(
            "client",
            "agent_client p50 (google auth on)",
            pct(ours, 0.5) * 1000,
            "ms",
            "floor p50",
            pct(ours, 0.5) / f50,
        ),
        Row("client", "agent_client p99", pct(ours, 0.99) * 1000, "ms", "floor p99", pct(ours, 0.99) / f99),
        Row(
            "client",
            "agent_client throughput",
            n / ours_wall,
            "calls/s",
            "floor",
            (n / ours_wall) / (n / floor_wall),
        ),
        Row("client", "agent_client token fetches / 1000 calls", ours_fetches * 1000 / n, "fetches"),
        Row(
            "client",
            "google sample p50 (fetch+new conn/call)",
            pct(sample, 0.5) * 1000,
            "ms",
            "floor p50",
            pct(sample, 0.5) / f50,
        ),
        Row(
            "client",
            "google sample p99",
            pct(sample, 0.99) * 1000,
            "ms",
            "floor p99",
            pct(sample, 0.99) / f99,
        ),
        Row(
            "client",
            "google sample throughput",
            sample_n / sample_wall,
            "calls/s",
            "floor",
            (sample_n / sample_wall) / (n / floor_wall),
        ),
        Row(
            "client", "google sample token fetches / 1000 calls", sample_fetches * 1000 / sample_n, "fetches"
        ),
    ]
    return rows


if __name__ == "__main__":
    from bench._util import render_table

    print(render_table(asyncio.run(run())))
