"""What a Discord user reads, through the emulator: untrusted text shown as text, errors said once,
plainly, privately and in the form the user typed, admin commands only shown to admins."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.runtime.main import Running, start_bot
from bot.settings import BotSettings
from spotrun.config import load_settings
from tests.bot import test_e2e_discord
from tests.bot.conftest import ADMIN, ALICE, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.fakes.discord.state import Message
from tests.helpers import serve

# The same emulator and bot fixtures as the other end-to-end tests.
emu, bot = test_e2e_discord.emu, test_e2e_discord.bot

pytestmark = pytest.mark.timeout(90)

# A masked link whose visible label is not where it goes: `[label](url)` not preceded by a backslash.
MASKED_LINK = re.compile(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(")


@pytest.fixture
async def hostile_site() -> AsyncIterator[str]:
    async def page(request: web.Request) -> web.Response:
        body = (
            "<html><head><title>[Free Nitro](https://evil.example/title)</title>"
            '<meta name="description" content="Claim your gift today before it expires.">'
            "</head><body><article>"
            "<p>Claim your gift today before it expires.</p>"
            "<p>[https://discord.com/nitro](https://evil.example/steal) — click the official link now, "
            "the offer is only valid for the members of this server.</p>"
            "<p># YOU WON</p>"
            "<p>More text about the gift so that the extractor keeps the paragraphs above as main text.</p>"
            "</article></body></html>"
        )
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/gift", page)
    async with serve(app) as url:
        yield url


def _embed_texts(msg: Message) -> list[str]:
    texts = []
    for e in msg.embeds:
        texts += [e.get("title") or "", e.get("description") or ""]
        texts += [f"{f.get('name', '')}\n{f.get('value', '')}" for f in e.get("fields", [])]
    return texts


@needs_agent("web-scraper")
async def test_agent_text_is_shown_as_text_not_as_markdown(
    emu: DiscordEmulator, bot: Running, hostile_site: str
) -> None:
    emu.user_says(ALICE, f"!scrape {hostile_site}/gift")
    msg = await emu.wait_for(lambda m: bool(m.embeds) and "vCPU-s" in m.text(), timeout=30)
    texts = _embed_texts(msg)
    assert any("https://evil.example/steal" in t for t in texts)  # the real target stays visible
    assert not any(MASKED_LINK.search(t) for t in texts), texts  # but never as a disguised link
    assert not any(re.search(r"(?m)^#", t) for t in texts), texts  # and no heading
    # The scraper's description is not repeated in an "Excerpt" field.
    fields = [f.get("name") for e in msg.embeds for f in e.get("fields", [])]
    assert "Excerpt" not in fields


async def test_admin_commands_are_hidden_from_non_admins(emu: DiscordEmulator, bot: Running) -> None:
    synced = {c["name"]: c for c in emu.synced_commands}
    for name in ("status", "cost", "budget", "config"):
        cmd = synced[name]
        assert str(cmd.get("default_member_permissions")) == "8", name  # Administrator only
        assert cmd.get("contexts") == [0] or cmd.get("dm_permission") is False, name
    for name in ("tts", "jobs", "help"):
        assert synced[name].get("default_member_permissions") is None
    # Discord itself refuses a non-admin (the client does not offer the command)...
    with pytest.raises(PermissionError):
        emu.slash(ALICE, "status")
    # ...and the run-time check stays: where a server widened it in Integrations, a non-admin
    # who calls it anyway is refused, privately.
    inter = emu.slash(ALICE, "status", enforce_permissions=False)
    refusal = await emu.wait_for(lambda m: m.interaction_id == inter, timeout=10)
    assert "administrators" in refusal.content and refusal.ephemeral


async def test_slash_usage_error_is_private_and_in_slash_form(emu: DiscordEmulator, bot: Running) -> None:
    inter = emu.slash(ALICE, "tts", {"text": "hi", "voice": "bad voice!"})
    usage = await emu.wait_for(lambda m: m.interaction_id == inter and "usage:" in m.content, timeout=10)
    assert usage.ephemeral, "a slash command's error is for its user only"
    assert "`/tts text:<text>" in usage.content and "!tts" not in usage.content
    assert "`voice` isn't in a form the command accepts (you gave `bad voice!`)" in usage.content
    public = [m for m in emu.messages() if m.interaction_id == inter and not m.ephemeral and not m.deleted]
    assert public == [], [m.content for m in public]
    # /help speaks the same form.
    inter = emu.slash(ALICE, "help")
    helped = await emu.wait_for(lambda m: m.interaction_id == inter and bool(m.embeds), timeout=10)
    assert helped.ephemeral and "`/tts text:<text>" in helped.text() and "`!tts" not in helped.text()


async def test_prefix_errors_are_plain_sentences_in_prefix_form(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, "!tts " + "a" * 1234)
    msg = await emu.wait_for(lambda m: "too long" in m.content, timeout=10)
    assert "The text is too long: 1,234 characters; the limit is 1,000." in msg.content
    assert "`!tts hello everyone, the build is green`" in msg.content and "/tts" not in msg.content
    assert "String should" not in msg.content

    emu.user_says(ALICE, "!scrape ftp://example.com/file")
    msg = await emu.wait_for(lambda m: "ftp://" in m.content, timeout=10)
    assert "Value error" not in msg.content
    assert "The URL must be an http:// or https:// URL (you gave `ftp://example.com/file`)." in msg.content

    emu.user_says(ALICE, "!generate a cat size=huge")
    msg = await emu.wait_for(lambda m: "`size`" in m.content, timeout=10)
    assert "`size` must be one of 256x256, 512x512 or 1024x1024 (you gave `huge`)" in msg.content


async def test_wrong_file_type_names_the_kinds_a_user_knows(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, "!analyze", attachments=[("photo.png", b"\x89PNG\r\n\x1a\n", "image/png")])
    msg = await emu.wait_for(lambda m: "photo.png" in m.content, timeout=10)
    assert "`analyze` can't read photo.png: it takes CSV, TSV, JSON or Parquet files" in msg.content
    assert "text/" not in msg.content


@pytest.fixture
async def bot_with(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[object]:
    """Start the bot after the test set extra environment variables."""
    running: list[Running] = []

    async def start(**env: str) -> Running:
        monkeypatch.setenv("SPOTRUN_DISCORD_TOKEN", "test-token")
        monkeypatch.setenv("SPOTRUN_DISCORD_API_BASE", emu.api_base)
        monkeypatch.setenv("SPOTRUN_SYNC_GUILD_IDS", str(emu.guild_id))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        running.append(await start_bot(load_settings(BotSettings)))
        await emu.wait_for_ready()
        return running[-1]

    yield start
    for r in running:
        await r.stop()


async def test_jobs_by_prefix_answers_then_deletes_itself(emu: DiscordEmulator, bot_with) -> None:  # type: ignore[no-untyped-def]
    await bot_with(SPOTRUN_PRIVATE_REPLIES="delete", SPOTRUN_PRIVATE_REPLY_DELETE_AFTER_S="0.5")
    emu.user_says(ALICE, "!jobs")
    reply = await emu.wait_for(lambda m: "no jobs yet" in m.content, timeout=10)
    assert "deleted in" in reply.content  # the reader is told why it will vanish
    for _ in range(100):
        if emu.world.messages[reply.id].deleted:
            break
        await asyncio.sleep(0.05)
    assert emu.world.messages[reply.id].deleted


async def test_jobs_by_prefix_can_answer_by_dm(emu: DiscordEmulator, bot_with) -> None:  # type: ignore[no-untyped-def]
    await bot_with(SPOTRUN_PRIVATE_REPLIES="dm")
    origin = emu.user_says(ALICE, "!jobs")
    dm = emu.dm_channel(ALICE)
    reply = await emu.wait_for(lambda m: "no jobs yet" in m.content, timeout=10)
    assert reply.channel_id == dm
    assert not any("no jobs yet" in m.content for m in emu.messages(emu.channel_id))
    for _ in range(100):
        if emu.world.messages[origin].reactions:
            break
        await asyncio.sleep(0.05)
    assert emu.world.messages[origin].reactions == ["📬"]  # the channel sees only a mailbox


@needs_agent("audio-video")
async def test_cost_counts_one_job_in_the_singular(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ADMIN, "!tts hello")
    await emu.wait_for(lambda m: bool(m.attachments), timeout=30)
    for _ in range(100):  # the ledger records the cost just after the post
        if (await bot.core.store.read("SELECT COUNT(*) FROM jobs WHERE total_usd IS NOT NULL"))[0][0]:
            break
        await asyncio.sleep(0.05)
    inter = emu.slash(ADMIN, "cost")
    msg = await emu.wait_for(lambda m: m.interaction_id == inter and bool(m.embeds), timeout=10)
    text = msg.text()
    assert "1 job" in text and "1 jobs" not in text, text


@needs_agent("audio-video")
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
async def test_convert_calls_an_mp4_an_mp4(emu: DiscordEmulator, bot: Running, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    await asyncio.to_thread(
        subprocess.run,
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-f", "lavfi", "-i",
         "testsrc=duration=1:size=64x64:rate=10", "-shortest", "-pix_fmt", "yuv420p", str(clip)],
        check=True,
        timeout=60,
    )  # fmt: skip
    emu.user_says(ALICE, "!convert wav", attachments=[("clip.mp4", clip.read_bytes(), "video/mp4")])
    msg = await emu.wait_for(lambda m: "Converted clip.mp4" in m.text(), timeout=60)
    assert "(mp4," in msg.text() and "mov" not in msg.text(), msg.text()


@needs_agent("image-gen")
async def test_admins_see_which_setting_image_generation_lacks(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, "!generate a lighthouse")
    failed = await emu.wait_for(lambda m: "isn't set up" in m.text(), timeout=30)
    assert "SPOTRUN_IMAGEGEN" not in failed.text()  # users get the plain sentence
    assert "/status" in failed.text()  # and where an admin finds the rest
    inter = emu.slash(ADMIN, "status")
    status = await emu.wait_for(lambda m: m.interaction_id == inter and bool(m.embeds), timeout=20)
    assert status.ephemeral
    assert "SPOTRUN_IMAGEGEN_PROVIDER" in status.text()
