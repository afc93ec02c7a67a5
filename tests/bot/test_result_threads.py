"""Long results in a thread (issue 12): off by default; `/config result-threads on` (admins) makes
a result that needs more than one message keep its first in the channel — the status message
becomes it — and post the rest into a thread started on it, once, whoever retries the post."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.frontends.render import render_result
from bot.frontends.threads import RESULT_THREADS
from bot.runtime.main import Running
from tests.bot import test_one_message
from tests.bot.conftest import ADMIN, ALICE, needs_agent
from tests.bot.test_one_message import buttons, recorded
from tests.fakes.discord import DiscordEmulator

bot, site = test_one_message.bot, test_one_message.site

pytestmark = [pytest.mark.timeout(90), needs_agent("web-scraper")]


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token="test-token", application_id=1000, bot_user_id=1000)
    emulator.start()
    emulator.add_user(ALICE, "alice")
    emulator.add_user(ADMIN, "boss", admin=True)
    with emulator.patch_discord():
        yield emulator
    emulator.stop()


async def turn_on(emu: DiscordEmulator) -> None:
    inter = emu.slash(ADMIN, "config", {"setting": "result-threads", "value": "on"})
    said = await emu.wait_for(lambda m: m.interaction_id == inter, timeout=10)
    assert said.ephemeral and "`result-threads` is now **on**" in said.content


async def test_a_long_result_posts_its_rest_into_a_thread_on_its_status_message(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    # Off by default: nothing stored, the setting reads off.
    assert await bot.core.store.guild_setting(str(emu.guild_id), RESULT_THREADS) is None
    inter = emu.slash(ADMIN, "config", {"setting": "result-threads"})
    said = await emu.wait_for(lambda m: m.interaction_id == inter, timeout=10)
    assert said.ephemeral and "is **off**" in said.content
    await turn_on(emu)

    origin = emu.user_says(ALICE, f"!extract {site}/long p limit=60")
    rest = await emu.wait_for(
        lambda m: m.channel_id != emu.channel_id and "continued" in m.text(), timeout=30
    )
    status = await emu.wait_for(lambda m: buttons(m) == ["Run again"], timeout=10)
    # In the channel: one message for the job, the status become the result's first part.
    in_channel = [
        m
        for m in emu.messages(emu.channel_id)
        if not m.ephemeral and m.interaction_id is None and not m.deleted
    ]
    assert [m.id for m in in_channel] == [status.id], [m.text()[:60] for m in in_channel]
    assert status.message_reference and int(status.message_reference["message_id"]) == origin
    assert status.content.startswith("✅ done in") and "the rest is in the thread" in status.content
    assert status.embeds and "match" in status.text()
    # The thread hangs on the status message (Discord gives it the message's id) and holds the rest.
    assert rest.channel_id == status.id
    thread = emu.messages(status.id)
    assert thread and all((m.nonce or "").startswith("r") for m in thread)
    assert all(buttons(m) == [] for m in thread)  # Run again stays in the channel
    job = await recorded(bot, status.nonce[1:])  # type: ignore[index]
    assert job.thread_id == str(status.id)
    created = [r for r in emu.requests if r[0] == "POST" and r[1].endswith("/threads")]
    assert len(created) == 1


async def test_a_retried_post_reuses_the_thread_and_posts_nothing_twice(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    await turn_on(emu)
    emu.user_says(ALICE, f"!extract {site}/long p limit=60")
    status = await emu.wait_for(lambda m: buttons(m) == ["Run again"] and m.embeds, timeout=30)
    job = await recorded(bot, status.nonce[1:])  # type: ignore[index]
    assert job.thread_id == str(status.id)
    before = len(emu.messages(status.id))
    assert before >= 1

    # A process died after starting the thread and posting into it, before recording either:
    # the post is claimed again (outbox) and delivered again, by this or another process.
    await bot.core.store.update(job.id, thread_id=None)
    job = await bot.core.store.get(job.id)
    assert job is not None and job.thread_id is None
    result = job.result
    assert result is not None
    messages = render_result(
        result, footer="", upload_limit=bot.core.settings.upload_limit_bytes, job_id=job.id
    )
    frontend = bot.core.frontends["discord"]
    await frontend._post_rest(job, str(status.id), messages, in_thread=True)  # type: ignore[attr-defined]

    # Discord refused a second thread on the message (160004): the same thread, recorded again;
    # the job's nonces made Discord return the messages already posted in it.
    refused = [r for r in emu.requests if r[0] == "POST" and r[1].endswith("/threads")]
    assert len(refused) == 2
    assert len(emu.messages(status.id)) == before
    again = await bot.core.store.get(job.id)
    assert again is not None and again.thread_id == str(status.id)


async def test_config_by_prefix_and_only_for_admins(emu: DiscordEmulator, bot: Running) -> None:
    await turn_on(emu)
    emu.user_says(ALICE, "!config result-threads off")
    refusal = await emu.wait_for(lambda m: "administrators" in m.content, timeout=10)
    assert refusal.message_reference is not None
    assert await bot.core.store.guild_setting(str(emu.guild_id), RESULT_THREADS) == "on"
    emu.user_says(ADMIN, "!config result-threads off")
    await emu.wait_for(lambda m: "`result-threads` is now **off**" in m.content, timeout=10)
    assert await bot.core.store.guild_setting(str(emu.guild_id), RESULT_THREADS) == "off"
