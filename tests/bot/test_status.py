"""/status against the emulator after real jobs ran: admins get the embed, others a refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.runtime.main import start_bot
from bot.settings import BotSettings
from spotrun.config import load_settings
from tests.bot.conftest import ADMIN, ALICE, BOB, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.fakes.discord.state import Message

pytestmark = [pytest.mark.timeout(60), needs_agent("audio-video")]


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token="test-token")
    emulator.start()
    emulator.add_user(ALICE, "alice")
    emulator.add_user(BOB, "bob")
    emulator.add_user(ADMIN, "boss", admin=True)
    with emulator.patch_discord():
        yield emulator
    emulator.stop()


def status_embed(emu: DiscordEmulator, inter: int) -> Message | None:
    for msg in emu.messages():
        if msg.interaction_id == inter and any("spotrun" in (e.get("title") or "") for e in msg.embeds):
            return msg
    return None


@pytest.mark.agents_down("image-gen")
async def test_status_for_admins_after_real_jobs(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "SPOTRUN_DISCORD_TOKEN": "test-token",
        "SPOTRUN_DISCORD_API_BASE": emu.api_base,
        "SPOTRUN_SYNC_GUILD_IDS": str(emu.guild_id),
        "SPOTRUN_OWNER_IDS": str(BOB),
        "SPOTRUN_POD_NAME": "spotrun-7c9f-abcde",
        "SPOTRUN_NODE_NAME": "gke-spot-pool-1",
    }.items():
        monkeypatch.setenv(key, value)
    running = await start_bot(load_settings(BotSettings))
    try:
        await emu.wait_for_ready()
        emu.user_says(ALICE, "!tts one")
        emu.user_says(ALICE, "!tts two")
        await emu.wait_for(lambda m: len([x for x in emu.messages() if x.attachments]) >= 2, timeout=30)
        for _ in range(100):  # on_ready follows READY once the guilds have arrived
            if running.bot.gateway_ready:
                break
            await asyncio.sleep(0.05)

        # A server that widened it in Integrations: the run-time check refuses.
        refused = emu.slash(ALICE, "status", {}, enforce_permissions=False)
        msg = await emu.wait_for(lambda m: m.interaction_id == refused and "administrators" in m.text())
        assert msg.ephemeral and not msg.embeds

        inter = emu.slash(ADMIN, "status", {})
        msg = await emu.wait_for(lambda m: status_embed(emu, inter) is not None, timeout=15)
        msg = status_embed(emu, inter) or msg
        assert msg.ephemeral
        (embed,) = msg.embeds
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert embed["title"].startswith("spotrun 0.")
        bot_text = fields["Bot"]
        assert "gateway connected" in bot_text and "shards 1" in bot_text and "latency" in bot_text
        assert "pod spotrun-7c9f-abcde on node gke-spot-pool-1" in bot_text
        assert "Spot: yes (metadata)" in bot_text  # SPOTRUN_NODE_SPOT unset: the metadata server says
        sqlite = bot_env["SPOTRUN_DATABASE_URL"].startswith("sqlite")
        assert ("first start on this volume" if sqlite else "no record of earlier starts") in bot_text
        assert "queued 0 · running 0 · failed in the last hour 0" in fields["Jobs"]
        # One process: this one, active on the one shard, in the zone the metadata server names.
        procs = fields["Processes"]
        assert "spotrun-7c9f-abcde (this one) · europe-west1-b · active, shards 0 · 0 jobs running" in procs
        assert "lease held" in procs and "shards held 1/1" in procs and "IDENTIFYs in 24 h: 1/1000" in procs
        av = fields["audio-video"]
        assert "health ok" in av and "breaker closed" in av and "in flight 0/2" in av
        assert "last hour: 2 calls" in av and "errors 0%" in av and "p95" in av
        assert "health DOWN" in fields["image-gen"]
        assert len(embed["fields"]) <= 25 and all(len(v) <= 1024 for v in fields.values())

        # An owner without server permissions, where the server widened it in Integrations.
        owner = emu.slash(BOB, "status", {}, enforce_permissions=False)
        await emu.wait_for(lambda m: status_embed(emu, owner) is not None, timeout=15)
    finally:
        await running.stop()

    # The next process shows how the previous one ended.
    monkeypatch.setenv("SPOTRUN_NODE_SPOT", "false")
    running = await start_bot(load_settings(BotSettings))
    try:
        await emu.wait_for_ready()
        inter = emu.slash(ADMIN, "status", {})
        await emu.wait_for(lambda m: status_embed(emu, inter) is not None, timeout=15)
        msg = status_embed(emu, inter)
        assert msg is not None
        bot_text = msg.embeds[0]["fields"][0]["value"]
        assert "Spot: no" in bot_text
        if sqlite:
            assert "the previous process ended by: clean" in bot_text
        else:  # no local record with PostgreSQL, and /status says so rather than "first start"
            assert "no record of earlier starts" in bot_text
    finally:
        await running.stop()
