"""The ops endpoints as the kubelet and Prometheus see them: /healthz, /readyz (before the
gateway connects, with a store that refuses writes, and all good), /metrics families."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.runtime.lifecycle import Lifecycle
from bot.runtime.main import start_bot
from bot.settings import BotSettings
from spotrun.config import load_settings
from tests.bot.conftest import ALICE, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.helpers import free_port

pytestmark = [pytest.mark.timeout(60), needs_agent("audio-video")]


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token="test-token")
    emulator.start()
    emulator.add_user(ALICE, "alice")
    with emulator.patch_discord():
        yield emulator
    emulator.stop()


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def test_readyz_follows_gateway_and_store_and_metrics_have_the_families(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    for key, value in {
        "SPOTRUN_DISCORD_TOKEN": "test-token",
        "SPOTRUN_DISCORD_API_BASE": emu.api_base,
        "SPOTRUN_SYNC_GUILD_IDS": str(emu.guild_id),
        "SPOTRUN_OPS_PORT": str(port),
    }.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(BotSettings)
    # Two recent starts: this one backs off 1.5 s before its gateway login, ops already serving.
    lifecycle = Lifecycle(None, window_s=600, schedule=(0, 1.5))
    lifecycle.begin()
    lifecycle.begin()
    starting = asyncio.create_task(start_bot(settings, lifecycle=lifecycle))
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(50):
            try:
                status, body = await get(http, f"{base}/readyz")
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        assert status == 503 and body["gateway"] is False and body["store"] is True
        assert body["reasons"] == ["gateway: not connected"]
        status, health = await get(http, f"{base}/healthz")
        assert status == 200 and health["status"] == "ok"  # alive while backing off
        assert emu.identify_count == 0

        running = await starting
        try:
            await emu.wait_for_ready()
            for _ in range(50):
                status, body = await get(http, f"{base}/readyz")
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert body == {"ready": True, "gateway": True, "registry": True, "store": True}

            # A real write probe: a store that refuses writes makes the pod unready, with the reason.
            db = running.core.store._db  # the test breaks the store on purpose
            if running.core.store.dialect == "sqlite":
                breaks, mends = ["PRAGMA query_only = 1"], ["PRAGMA query_only = 0"]
                reason = "store: OperationalError: attempt to write a readonly database"
            else:  # the superuser ignores grants and read-only settings: a trigger refuses instead
                breaks = [
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "'BEGIN RAISE EXCEPTION ''writes refused''; END'",
                    "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON meta"
                    " FOR EACH ROW EXECUTE FUNCTION refuse()",
                ]
                mends = ["DROP TRIGGER refuse ON meta"]
                reason = "store: RaiseError: writes refused"
            for sql in breaks:
                await db.execute(sql)
            status, body = await get(http, f"{base}/readyz")
            assert status == 503 and body["store"] is False and body["gateway"] is True
            assert body["reasons"] == [reason]
            async with http.get(f"{base}/metrics") as resp:
                assert "spotrun_ready 0.0" in await resp.text()
            for sql in mends:
                await db.execute(sql)

            emu.user_says(ALICE, "!tts metrics please")
            await emu.wait_for(lambda m: bool(m.attachments), timeout=30)
            status, _ = await get(http, f"{base}/readyz")
            assert status == 200
            async with http.get(f"{base}/metrics") as resp:
                text = await resp.text()
            for family in (
                'spotrun_jobs_total{command="tts",state="succeeded"}',
                "spotrun_jobs_queue_depth",
                'spotrun_job_seconds_bucket{command="tts"',
                "spotrun_ready 1.0",
                "spotrun_agent_calls_total",
                "spotrun_agent_call_seconds_bucket",
                "spotrun_agent_breaker_state",
                "spotrun_agent_in_flight",
            ):
                assert family in text, family

            # spotrun_ready follows the gateway itself, not only the probe.
            emu.disconnect_all()
            for _ in range(100):
                if running.bot.gateway_ready:
                    break
                await asyncio.sleep(0.05)
            async with http.get(f"{base}/metrics") as resp:
                assert "spotrun_ready 1.0" in await resp.text()
        finally:
            await running.stop()
        assert running.lifecycle.backoff_s == 1.5


async def test_healthz_fails_when_the_heartbeat_is_stale(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("SPOTRUN_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("SPOTRUN_DISCORD_API_BASE", emu.api_base)
    monkeypatch.setenv("SPOTRUN_OPS_PORT", str(port))
    monkeypatch.setenv("SPOTRUN_HEALTHZ_STALE_S", "0.5")
    running = await start_bot(load_settings(BotSettings))
    try:
        async with aiohttp.ClientSession() as http:
            status, _ = await get(http, f"http://127.0.0.1:{port}/healthz")
            assert status == 200
            await running.heartbeat.stop()  # as if the loop stopped running its tasks
            await asyncio.sleep(0.8)
            status, body = await get(http, f"http://127.0.0.1:{port}/healthz")
            assert status == 503 and body["status"] == "stale"
    finally:
        await running.stop()
