"""Jobs across time: the 15-minute interaction window, cancelling a running job, restarts that
resume queued jobs and post each result once, command sync only on change, monitors, ops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.jobs.store import JobState, JobStore
from bot.runtime.main import Running, start_bot
from bot.settings import BotSettings
from spotrun.config import load_settings
from tests.bot.conftest import ADMIN, ALICE, BOB, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.helpers import free_port, serve

pytestmark = [pytest.mark.timeout(90), needs_agent("web-scraper")]


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token="test-token")
    emulator.start()
    for uid, name in ((ALICE, "alice"), (BOB, "bob")):
        emulator.add_user(uid, name)
    emulator.add_user(ADMIN, "boss", admin=True)
    with emulator.patch_discord():
        yield emulator
    emulator.stop()


@pytest.fixture
def page() -> dict[str, str]:
    return {"title": "Harbour News", "body": "The ferry runs hourly. The cafe opens at nine."}


@pytest.fixture
async def site(page: dict[str, str]) -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "0")))
        html = (
            f"<html><head><title>{page['title']}</title></head><body><article><h1>{page['title']}</h1>"
            f"<p>{page['body']}</p></article></body></html>"
        )
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/p", handler)
    async with serve(app) as url:
        yield url


async def start(emu: DiscordEmulator, monkeypatch: pytest.MonkeyPatch, **env: str) -> Running:
    monkeypatch.setenv("SPOTRUN_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("SPOTRUN_DISCORD_API_BASE", emu.api_base)
    monkeypatch.setenv("SPOTRUN_SYNC_GUILD_IDS", str(emu.guild_id))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    running = await start_bot(load_settings(BotSettings))
    await emu.wait_for_ready()
    return running


async def test_slash_result_after_the_interaction_window_goes_to_the_channel(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    emu.interaction_ttl_s = 1.5
    running = await start(emu, monkeypatch, SPOTRUN_INTERACTION_TTL_S="1")
    try:
        inter = emu.slash(ALICE, "scrape", {"url": f"{site}/p?s=2.5"})
        msg = await emu.wait_for(lambda m: "Harbour News" in m.text() and "vCPU-s" in m.text(), timeout=20)
        assert msg.interaction_id is None  # a channel message, not a follow-up on the dead token
        assert msg.content.startswith(f"<@{ALICE}>")
        assert msg.allowed_mentions is not None
        assert msg.allowed_mentions.get("parse") == [] and [
            int(u) for u in msg.allowed_mentions.get("users", [])
        ] == [ALICE]
        status = await emu.wait_for(lambda m: "done in" in m.content, timeout=10)
        assert status.interaction_id == inter  # the original response, edited through the channel route
    finally:
        await running.stop()


async def test_cancel_a_running_slash_job_with_its_button_after_a_waking_line(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    running = await start(emu, monkeypatch, SPOTRUN_WAKING_AFTER_S="0.2")
    try:
        emu.slash(ALICE, "scrape", {"url": f"{site}/p?s=20"})
        status = await emu.wait_for(lambda m: "waking the web scraper agent" in m.content, timeout=10)
        custom_id = status.components[0]["components"][0]["custom_id"]
        emu.click(ALICE, status.id, custom_id)
        await emu.wait_for(lambda m: m.id == status.id and "cancelled by alice" in m.content, timeout=15)
        job_id = custom_id.rsplit(":", 1)[1]
        job = await running.core.store.get(job_id)
        assert job is not None and job.state is JobState.CANCELLED
        assert not any("Harbour News" in m.text() for m in emu.messages())
    finally:
        await running.stop()


async def test_restart_resumes_a_queued_job_posts_once_and_does_not_resync(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, site: str, tmp_path: Path
) -> None:
    # A previous process accepted the command and died before running it.
    origin = emu.user_says(ALICE, "(a message whose command was accepted before the crash)")
    store = await JobStore.open(bot_env["SPOTRUN_DATABASE_URL"])
    job = await store.create_job(
        command="scrape", args={"url": f"{site}/p", "render_js": False}, user_id=str(ALICE),
        guild_id=str(emu.guild_id), channel_id=str(emu.channel_id), origin_message_id=str(origin),
    )  # fmt: skip
    await store.close()

    running = await start(emu, monkeypatch)
    try:
        msg = await emu.wait_for(lambda m: "Harbour News" in m.text(), timeout=20)
        assert msg.nonce == f"r0{job.id}"
        await emu.wait_for(lambda m: "done in" in m.content, timeout=10)
    finally:
        await running.stop()
    syncs = [r for r in emu.requests if r[0] == "PUT" and "commands" in r[1]]
    assert len(syncs) == 1

    running = await start(emu, monkeypatch)
    try:
        await asyncio.sleep(1.0)
        assert sum("Harbour News" in m.text() for m in emu.messages()) == 1
        assert len([r for r in emu.requests if r[0] == "PUT" and "commands" in r[1]]) == 1  # unchanged set
        done = await running.core.store.get(job.id)
        assert done is not None and done.posted_at is not None and done.state is JobState.SUCCEEDED
    finally:
        await running.stop()


async def test_monitor_posts_when_the_page_changes_and_survives_restart(
    emu: DiscordEmulator,
    bot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    site: str,
    page: dict[str, str],
) -> None:
    env = {"SPOTRUN_MONITOR_INTERVAL_MIN_S": "0.3", "SPOTRUN_MONITOR_TICK_S": "0.1"}
    running = await start(emu, monkeypatch, **env)
    try:
        emu.user_says(ALICE, f"!monitor {site}/p 0.01")  # 0.6 s
        ack = await emu.wait_for(lambda m: "watching" in m.content, timeout=10)
        mon_id = ack.content.rsplit("`", 2)[1]
        for _ in range(50):  # the first check stores the baseline fingerprint
            mon = await running.core.store.get_monitor(mon_id)
            if mon is not None and mon.fingerprint:
                break
            await asyncio.sleep(0.1)
    finally:
        await running.stop()

    page["title"] = "Harbour News (storm)"
    page["body"] = "The ferry is suspended today. The cafe opens at nine."
    running = await start(emu, monkeypatch, **env)
    try:
        changed = await emu.wait_for(
            lambda m: any("changed:" in (e.get("title") or "") for e in m.embeds), 15
        )
        text = changed.text()
        assert "Harbour News (storm)" in text and "The ferry is suspended today." in text
        assert changed.allowed_mentions is not None and changed.allowed_mentions.get("parse") == []
        emu.user_says(ALICE, "!monitor list")
        await emu.wait_for(lambda m: mon_id in m.content and "every" in m.content, timeout=10)
        emu.user_says(ALICE, "!monitor http://x 0.001")
        await emu.wait_for(lambda m: "shortest interval" in m.content or "usage" in m.content, timeout=10)
        emu.user_says(ALICE, f"!monitor remove {mon_id}")
        await emu.wait_for(lambda m: "stopped watching" in m.content, timeout=10)
        assert await running.core.store.get_monitor(mon_id) is None
    finally:
        await running.stop()


async def test_ops_endpoints(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    running = await start(emu, monkeypatch, SPOTRUN_OPS_PORT=str(port))
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(50):
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        body = await resp.json()
                        break
                await asyncio.sleep(0.1)
            assert body == {"ready": True, "gateway": True, "registry": True, "store": True}
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            assert "spotrun_ready 1.0" in text and "spotrun_jobs_queue_depth" in text
    finally:
        await running.stop()


async def test_a_gateway_disconnect_mid_job_does_not_lose_the_result(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    running = await start(emu, monkeypatch)
    try:
        emu.user_says(ALICE, f"!scrape {site}/p?s=1.5")
        await emu.wait_for(lambda m: "running on" in m.content or "waking" in m.content, timeout=10)
        emu.disconnect_all()
        msg = await emu.wait_for(lambda m: "Harbour News" in m.text() and "vCPU-s" in m.text(), timeout=20)
        assert msg.nonce is not None
        await emu.wait_for(lambda m: "done in" in m.content, timeout=10)
        for _ in range(100):  # discord.py resumes (or re-identifies) on its own
            if running.bot.gateway_ready:
                break
            await asyncio.sleep(0.1)
        assert running.bot.gateway_ready
    finally:
        await running.stop()
