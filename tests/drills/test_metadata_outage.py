"""Drill: the GCE metadata server goes down while the bot calls an agent that verifies Google ID
tokens (the real agent runtime). Users get a clear message while it is down; when it comes back the
same bot process recovers without a restart. Through the emulator and the real bot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.common.settings import AgentSettings
from tests.bot.conftest import needs_agent
from tests.drills.conftest import FIRST_USER, mentions_are_safe
from tests.fakes.discord import DiscordEmulator
from tests.fakes.metadata import FakeMetadataServer
from tests.helpers import serve

pytestmark = pytest.mark.timeout(120)

AUDIENCE = "https://audio-video-drill.a.run.app"
USER = FIRST_USER + 50
AUTH_TEXT = "the bot couldn't authenticate to the agent; an admin should check Workload Identity"


def is_answer(origin: int):
    def match(m: Any) -> bool:
        ref = m.message_reference and int(m.message_reference["message_id"]) == origin
        return bool(ref and (m.attachments or m.content.startswith("❌")))

    return match


@needs_agent("audio-video")
async def test_metadata_outage_gives_a_clear_error_then_recovers_without_restart(
    emu: DiscordEmulator, metadata: FakeMetadataServer, start_bot_with: Any, tmp_path: Path
) -> None:
    from agents.audio_video.app import build

    emu.add_user(USER, "carol")
    app = build(AgentSettings(auth="google", audience=AUDIENCE, certs_url=metadata.certs_url))
    async with serve(app) as url:
        registry = tmp_path / "agents.yaml"
        agent = {
            "name": "audio-video",
            "base_url": url,
            "audience": AUDIENCE,
            "auth": "google",
            "commands": ["transcribe", "tts", "convert"],
            "timeout_s": 20,
            "retries": 2,
        }
        registry.write_text(yaml.safe_dump({"agents": [agent]}))
        # Down before the bot starts: its start-up manifest read would otherwise mint (and cache)
        # the token the first call then uses. The bot starts anyway, on the built-in commands.
        metadata.down = True
        running = await start_bot_with(registry)
        try:
            t0 = time.monotonic()
            first = emu.user_says(USER, "!tts hello while the metadata server is down")
            failed = await emu.wait_for(is_answer(first), timeout=30)
            down_s = time.monotonic() - t0
            assert AUTH_TEXT in failed.content and not failed.embeds, failed.text()
            assert mentions_are_safe(failed, USER)
            fetch_attempts_while_down = metadata.identity_calls

            metadata.down = False
            t1 = time.monotonic()
            second = emu.user_says(USER, "!tts hello again")
            ok = await emu.wait_for(is_answer(second), timeout=30)
            up_s = time.monotonic() - t1
            assert ok.attachments and ok.attachments[0][0].endswith(".mp3"), ok.text()
            minted = metadata.identity_calls

            # With a valid token cached, a new outage does not touch calls at all.
            metadata.down = True
            third = emu.user_says(USER, "!tts and once more")
            cached = await emu.wait_for(is_answer(third), timeout=30)
            assert cached.attachments, cached.text()
            assert metadata.identity_calls == minted
        finally:
            metadata.down = False
            await running.stop()
    print(
        f"\n[metadata] down (503 to every request): clear error after {down_s:.1f}s, "
        f"{fetch_attempts_while_down} tokens minted; back up: result after {up_s:.1f}s in the same process; "
        f"second outage with a cached token: served, 0 fetches"
    )
