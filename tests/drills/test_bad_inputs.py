"""Drill: hostile and malformed input to every command, through the emulator, the real bot and the
real agents (scraper SSRF guard on). Every message gets a reason, nothing pings, agents stay up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.drills.conftest import FIRST_USER, mentions_are_safe, write_registry
from tests.fakes.discord import DiscordEmulator

pytestmark = pytest.mark.timeout(120)

USER = FIRST_USER
CSV = b"date,revenue\n2024-01-01,10\n2024-01-02,12\n2024-01-03,15\n2024-01-04,11\n"
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
BIG = b"a,b\n" + b"1,2\n" * (600 * 1024)  # ~2.4 MB: over the drill's 1 MiB input limit

# (what is sent, attachments, a fragment the answer must contain; "" = any clear reason)
CASES: list[tuple[str, list[tuple[str, bytes, str]], str]] = [
    # malformed arguments and wrong types
    ("!tts", [], "usage:"),
    ("!tts speed=5 hi", [], "usage:"),
    ("!tts hello format=flac", [], "usage:"),
    ("!generate", [], "usage:"),
    ("!generate a cat count=-3", [], "usage:"),
    ("!generate a cat size=huge", [], "usage:"),
    ("!enhance scale=3", [("x.png", PNG_1PX, "image/png")], "usage:"),
    ("!enhance", [], ""),
    ("!style-transfer", [], "usage:"),
    ("!scrape", [], "usage:"),
    ("!scrape not-a-url", [], ""),
    ("!extract https://example.com", [], "usage:"),
    ("!extract https://example.com a limit=lots", [], "usage:"),
    ("!analyze", [], ""),
    ("!analyze", [("data.csv", PNG_1PX, "text/csv")], ""),
    ("!chart pie", [("s.csv", CSV, "text/csv")], "usage:"),
    ("!chart line x=nosuch y=revenue", [("s.csv", CSV, "text/csv")], ""),
    ("!predict revenue steps=abc", [("s.csv", CSV, "text/csv")], "usage:"),
    ("!predict", [("s.csv", CSV, "text/csv")], "usage:"),
    ("!transcribe", [("memo.ogg", b"\x00not audio\x00" * 50, "audio/ogg")], ""),
    ("!convert flac", [("a.wav", b"RIFF", "audio/wav")], "usage:"),
    ("!convert mp3", [("notes.txt", b"hello", "text/plain")], ""),
    ("!tts " + "long " * 395, [], ""),
    # oversized input
    ("!analyze", [("big.csv", BIG, "text/csv")], "the limit is 1 MiB"),
    # hostile URLs
    ("!scrape file:///etc/passwd", [], ""),
    ("!scrape http://169.254.169.254/computeMetadata/v1/", [], ""),
    ("!scrape http://localhost:1/", [], ""),
    ("!scrape http://[::1]/", [], ""),
    ("!scrape http://127.0.0.1:22/", [], ""),
    ("!extract http://169.254.169.254/ a", [], ""),
    ("!scrape gopher://example.com/", [], ""),
    # mention injection in arguments the bot or an agent may echo back
    ("!tts speed=@everyone hi", [], "usage:"),
    ("!scrape @everyone", [], ""),
    ("!chart line x=<@&4242> y=revenue", [("s.csv", CSV, "text/csv")], ""),
    ("!predict @here", [("s.csv", CSV, "text/csv")], ""),
]

STATUS_ONLY = ("queued", "running on", "⏳", "🔄")


def answer_to(emu: DiscordEmulator, origin: int) -> Any:
    """The bot's terminal answer to one message: the job's status message once it has become the
    result (it then carries embeds) or the error (`❌ …`), or a reply that is not a progress line
    nor the status message (a refusal before the command became a job)."""
    for m in emu.messages():
        ref = m.message_reference and int(m.message_reference["message_id"]) == origin
        status = (m.nonce or "").startswith("s")
        final = m.embeds or m.content.startswith("❌")
        if ref and (final or (not status and not any(s in m.content for s in STATUS_ONLY))):
            return m
    return None


async def test_every_bad_input_gets_a_reason_and_nothing_pings(
    emu: DiscordEmulator, real_agents: dict[str, str], start_bot_with: Any, tmp_path: Path
) -> None:
    emu.add_user(USER, "mallory")
    registry = write_registry(tmp_path / "agents.yaml", real_agents, max_concurrency=4)
    running = await start_bot_with(
        registry, MAX_INPUT_BYTES=str(1024 * 1024), MAX_RUNNING_PER_USER="4", MAX_QUEUED_PER_USER="100"
    )
    started = time.monotonic()
    try:
        origins = [(emu.user_says(USER, text, attachments=files), text, want) for text, files, want in CASES]
        deadline = time.monotonic() + 90
        answers: dict[int, Any] = {}
        while len(answers) < len(origins) and time.monotonic() < deadline:
            for origin, _, _ in origins:
                if origin not in answers and (a := answer_to(emu, origin)) is not None:
                    answers[origin] = a
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - started
        unanswered = [text[:60] for o, text, _ in origins if o not in answers]
        print(f"\n[bad-inputs] {len(CASES)} inputs, {len(answers)} answered, {elapsed:.1f}s")
        for o, text, _ in origins:
            if o in answers:
                print(f"  {text[:50]!r:54} -> {answers[o].text()[:150]!r}")
        assert not unanswered, f"no answer to: {unanswered}"
        for origin, text, want in origins:
            reply = answers[origin].text()
            assert want in reply, f"{text[:60]!r} answered {reply[:300]!r}"
            assert "Traceback" not in reply and "Exception" not in reply
        # Hostile URLs never reach the network: the scraper names the block.
        for origin, text, _ in origins:
            if "169.254" in text or "localhost" in text or "[::1]" in text or "127.0.0.1" in text:
                assert "private/blocked" in answers[origin].text() or "usage:" in answers[origin].text()
        # No message of the bot's may ping anyone but the requester.
        unsafe = [m.text()[:100] for m in emu.messages() if not mentions_are_safe(m, USER)]
        assert not unsafe, f"messages that could ping: {unsafe}"
    finally:
        await running.stop()
    async with aiohttp.ClientSession() as s:
        for name, url in real_agents.items():
            async with s.get(f"{url}/health") as r:
                assert r.status == 200, f"{name} agent is not healthy after the drill"
