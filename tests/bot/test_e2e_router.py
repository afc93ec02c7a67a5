"""Plain-language requests end to end: the real bot and agents, an emulated Discord. A mention with
a CSV gives a chart, a mention with a URL a scrape, an ambiguous request buttons (nothing runs until
one is picked), nonsense the list of what the bot can do; `!x` is never routed."""

from __future__ import annotations

import asyncio

import pytest

from bot.billing.cost import receipt
from bot.runtime.main import Running, start_bot
from bot.settings import BotSettings
from spotrun.config import load_settings
from tests.bot import test_e2e_discord
from tests.bot.conftest import ALICE, BOB, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.fakes.openai_chat import FakeOpenAIChat
from tests.helpers import serve

emu, bot, site = test_e2e_discord.emu, test_e2e_discord.bot, test_e2e_discord.site

pytestmark = pytest.mark.timeout(90)

SALES = b"month,revenue,cost\nJan,10,4\nFeb,12,5\nMar,15,7\nApr,11,6\n"
VENDAS = "mês;receita;custo\njan;10;4\nfev;12;5\nmar;15;7\n".encode()


def mention(emu: DiscordEmulator, text: str) -> str:
    return f"<@{emu.bot_user_id}> {text}"


def labels(msg) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.get("label") for row in msg.components for c in row["components"]]


def custom_ids(msg) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.get("custom_id") for row in msg.components for c in row["components"]]


def replies_to(emu: DiscordEmulator, origin: int) -> list:  # type: ignore[type-arg]
    return [
        m for m in emu.messages() if m.message_reference and int(m.message_reference["message_id"]) == origin
    ]


@needs_agent("data-analysis")
async def test_mention_with_a_csv_posts_the_chart_it_understood(emu: DiscordEmulator, bot: Running) -> None:
    origin = emu.user_says(
        ALICE,
        mention(emu, "make a bar chart of revenue by month"),
        attachments=[("sales.csv", SALES, "text/csv")],
    )
    msg = await emu.wait_for(lambda m: any(a[0].endswith(".png") for a in m.attachments), timeout=30)
    png = next(a for a in msg.attachments if a[0].endswith(".png"))
    assert png[1][:8] == b"\x89PNG\r\n\x1a\n"
    # The status message that became the result says how the request was read, with a way out.
    assert msg.content.startswith("→ `!chart bar x=month y=revenue`")
    assert "Not what I meant" in labels(msg) and "Run again" in labels(msg)
    assert msg.message_reference and int(msg.message_reference["message_id"]) == origin
    assert msg.allowed_mentions is not None and msg.allowed_mentions.get("parse") == []
    job = (await bot.core.store.user_jobs(str(ALICE), limit=1))[0]
    assert job.command == "chart" and job.args["kind"] == "bar" and job.args["y"] == ["revenue"]


@needs_agent("web-scraper")
async def test_mention_with_a_url_scrapes_it_for_two_discord_calls(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    # As in test_one_message: an interval longer than the job, so progress edits don't blur the count.
    running = await start(emu, monkeypatch, SPOTRUN_STATUS_EDIT_INTERVAL_S="3")
    try:
        before = len(emu.requests)
        emu.user_says(BOB, mention(emu, f"what does this page say? {site}/page"))
        msg = await emu.wait_for(lambda m: bool(m.embeds) and "Lighthouse Weekly" in m.text(), timeout=30)
        assert msg.content.startswith(f"→ `!scrape {site}/page`")
        assert "vCPU-s" in msg.text()  # the usual receipt
        await emu.wait_for(lambda m: "Not what I meant" in labels(m) and "Run again" in labels(m), timeout=5)
        # Routing costs no Discord call: POST the status, PATCH it into the result, as for `!scrape`.
        calls = [
            (m, p)
            for m, p in emu.requests[before:]
            if "/messages" in p or p.startswith(("/interactions/", "/webhooks/"))
        ]
        assert [m for m, _ in calls] == ["POST", "PATCH"], calls
    finally:
        await running.stop()


@needs_agent("data-analysis")
async def test_an_ambiguous_request_asks_and_runs_only_the_pick(emu: DiscordEmulator, bot: Running) -> None:
    origin = emu.user_says(
        ALICE, mention(emu, "trend line of cost"), attachments=[("sales.csv", SALES, "text/csv")]
    )
    question = await emu.wait_for(lambda m: m.author_id == emu.bot_user_id and "Did you mean" in m.content)
    assert question.message_reference and int(question.message_reference["message_id"]) == origin
    picks = {label: cid for label, cid in zip(labels(question), custom_ids(question), strict=True)}
    assert len(picks) >= 2, picks
    await asyncio.sleep(0.5)
    assert await bot.core.store.user_jobs(str(ALICE)) == []  # nothing runs until the user picks
    # Someone else cannot pick for the asker.
    emu.click(BOB, question.id, picks[next(iter(picks))])
    await asyncio.sleep(0.5)
    assert await bot.core.store.user_jobs(str(ALICE)) == []
    chart = next(label for label in picks if label.startswith("!chart"))
    emu.click(ALICE, question.id, picks[chart])
    msg = await emu.wait_for(lambda m: any(a[0].endswith(".png") for a in m.attachments), timeout=30)
    assert msg.content.startswith(f"→ `{chart}`")
    jobs = await bot.core.store.user_jobs(str(ALICE))
    assert [j.command for j in jobs] == ["chart"]
    closed = emu.world.messages[question.id]
    assert closed.content == f"→ picked `{chart}`" and not closed.components


async def test_nonsense_gets_the_list_of_what_the_bot_can_do(emu: DiscordEmulator, bot: Running) -> None:
    origin = emu.user_says(ALICE, mention(emu, "what's the weather like in lisbon tomorrow?"))
    answer = await emu.wait_for(lambda m: m.author_id == emu.bot_user_id and "I can" in m.content)
    assert answer.message_reference and int(answer.message_reference["message_id"]) == origin
    assert "`!chart`" in answer.content and "`!scrape`" in answer.content and "`!tts`" in answer.content
    assert await bot.core.store.user_jobs(str(ALICE)) == []


@needs_agent("audio-video")
async def test_ask_slash_command_routes_too(emu: DiscordEmulator, bot: Running) -> None:
    assert any(c["name"] == "ask" for c in emu.synced_commands)
    inter = emu.slash(BOB, "ask", {"text": "read this out loud: the build is green"})
    msg = await emu.wait_for(lambda m: any(a[0].endswith(".mp3") for a in m.attachments), timeout=30)
    assert msg.content.startswith('→ `!tts "the build is green"`')
    assert emu.interaction_responses(inter)[0]["type"] == 5  # deferred within the 3 s window


@needs_agent("data-analysis")
async def test_ask_with_a_file_option(emu: DiscordEmulator, bot: Running) -> None:
    emu.slash(
        ALICE, "ask", {"text": "histograma da receita"}, attachments={"file": ("v.csv", VENDAS, "text/csv")}
    )
    msg = await emu.wait_for(lambda m: any(a[0].endswith(".png") for a in m.attachments), timeout=30)
    assert msg.content.startswith("→ `!chart histogram y=receita`")


@needs_agent("audio-video")
async def test_prefix_commands_are_never_routed(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(BOB, "!tts hello")
    msg = await emu.wait_for(lambda m: bool(m.attachments), timeout=30)
    assert not msg.content.startswith("→")
    assert "Not what I meant" not in labels(msg)
    assert len([m for m in emu.messages() if m.author_id == emu.bot_user_id]) == 1


@needs_agent("audio-video")
async def test_a_reply_to_the_bot_is_routed(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, mention(emu, "what is the weather like in lisbon tomorrow?"))
    answer = await emu.wait_for(lambda m: m.author_id == emu.bot_user_id and "I can" in m.content)
    emu.user_says(ALICE, "ok then, say good night everyone", reply_to=answer.id)
    msg = await emu.wait_for(lambda m: any(a[0].endswith(".mp3") for a in m.attachments), timeout=30)
    assert msg.content.startswith('→ `!tts "good night everyone"`')


@needs_agent("data-analysis")
async def test_not_what_i_meant_offers_the_other_readings(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(
        ALICE, mention(emu, "bar chart of revenue by month"), attachments=[("s.csv", SALES, "text/csv")]
    )
    done = await emu.wait_for(lambda m: any(a[0].endswith(".png") for a in m.attachments), timeout=30)
    fix = next(cid for cid in custom_ids(done) if cid.startswith("spotrun:fix:"))
    emu.click(BOB, done.id, fix)  # not the asker: refused, privately
    refused = await emu.wait_for(lambda m: "only the person who asked" in m.content)
    assert refused.flags & 64
    emu.click(ALICE, done.id, fix)
    offer = await emu.wait_for(lambda m: "Did you mean one of these" in m.content)
    assert offer.flags & 64  # only the asker sees it
    others = {label: cid for label, cid in zip(labels(offer), custom_ids(offer), strict=True)}
    assert others and not any(label.startswith("!chart bar") for label in others), others
    label, cid = next(iter(others.items()))
    emu.click(ALICE, offer.id, cid)
    await emu.wait_for(lambda m: m.content.startswith(f"→ `{label}`"), timeout=30)
    jobs = await bot.core.store.user_jobs(str(ALICE))
    assert [j.command for j in jobs] == [label.split()[0].removeprefix("!"), "chart"]


@needs_agent("data-analysis")
async def test_choice_buttons_work_after_a_restart(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await start(emu, monkeypatch)
    try:
        emu.user_says(
            ALICE, mention(emu, "trend line of cost"), attachments=[("sales.csv", SALES, "text/csv")]
        )
        question = await emu.wait_for(
            lambda m: m.author_id == emu.bot_user_id and "Did you mean" in m.content
        )
    finally:
        await first.stop()
    second = await start(emu, monkeypatch)
    try:
        picks = dict(zip(labels(question), custom_ids(question), strict=True))
        chart = next(label for label in picks if label.startswith("!chart"))
        emu.click(ALICE, question.id, picks[chart])
        msg = await emu.wait_for(lambda m: any(a[0].endswith(".png") for a in m.attachments), timeout=30)
        assert msg.content.startswith(f"→ `{chart}`")  # the file was fetched again from Discord
    finally:
        await second.stop()


@needs_agent("audio-video")
async def test_mentions_work_without_the_message_content_intent(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    running = await start(emu, monkeypatch, SPOTRUN_MESSAGE_CONTENT_INTENT="false")
    try:
        emu.user_says(BOB, "!tts this is blanked without the intent")
        emu.user_says(BOB, mention(emu, "read this out loud: mentions still arrive"))
        msg = await emu.wait_for(lambda m: any(a[0].endswith(".mp3") for a in m.attachments), timeout=30)
        assert msg.content.startswith('→ `!tts "mentions still arrive"`')
        assert [j.command for j in await running.core.store.user_jobs(str(BOB))] == ["tts"]
    finally:
        await running.stop()


async def start(emu: DiscordEmulator, monkeypatch: pytest.MonkeyPatch, **env: str) -> Running:
    monkeypatch.setenv("SPOTRUN_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("SPOTRUN_DISCORD_API_BASE", emu.api_base)
    monkeypatch.setenv("SPOTRUN_SYNC_GUILD_IDS", str(emu.guild_id))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    running = await start_bot(load_settings(BotSettings))
    await emu.wait_for_ready()
    return running


@needs_agent("data-analysis")
async def test_an_llm_router_shows_its_cost_and_the_offline_router_covers_its_failures(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = FakeOpenAIChat()
    provider.answer = lambda body: ("chart", {"kind": "line", "x": "month", "y": ["cost"]})
    async with serve(provider.app()) as url:
        running = await start(
            emu,
            monkeypatch,
            SPOTRUN_ROUTER_PROVIDER="openai",
            SPOTRUN_ROUTER_BASE_URL=f"{url}/v1",
            SPOTRUN_ROUTER_API_KEY=provider.api_key,
        )
        try:
            emu.user_says(
                ALICE, mention(emu, "como anda o custo?"), attachments=[("s.csv", SALES, "text/csv")]
            )
            msg = await emu.wait_for(lambda m: any(a[0].endswith(".png") for a in m.attachments), timeout=30)
            assert msg.content.startswith(
                "→ `!chart line x=month y=cost` · routed by llm:gpt-4o-mini, ≈ $0.000"
            )
            # The routing tokens are billed with the job: on its receipt and in the ledger.
            [routed] = await running.core.store.user_jobs(str(ALICE))
            assert routed.routing_usd is not None and routed.routing_usd > 0
            assert routed.result is not None
            agent_bill = receipt(
                routed.result.usage,
                running.core.registry.for_command("chart"),
                running.core.engine.runner.prices,
            )
            assert routed.total_usd == pytest.approx(agent_bill.total_usd + routed.routing_usd)
            footers = [(e.get("footer") or {}).get("text", "") for e in msg.embeds]
            assert any(f"provider ${agent_bill.provider_usd + routed.routing_usd:.4f}" in f for f in footers)
            provider.mode = "500"
            emu.user_says(
                BOB, mention(emu, "histogram of revenue"), attachments=[("s.csv", SALES, "text/csv")]
            )
            msg = await emu.wait_for(
                lambda m: m.content.startswith("→ `!chart histogram y=revenue`\n"), timeout=30
            )
            assert len(provider.requests) == 2
        finally:
            await running.stop()


async def test_chat_in_reply_to_the_bot_gets_no_list(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, mention(emu, "tell me a joke"))
    answer = await emu.wait_for(lambda m: m.author_id == emu.bot_user_id and "I can" in m.content)
    emu.user_says(ALICE, "haha ok, thanks!", reply_to=answer.id)
    await asyncio.sleep(1.0)
    assert len([m for m in emu.messages() if m.author_id == emu.bot_user_id]) == 1


@needs_agent("audio-video")
async def test_the_router_never_escalates_past_a_budget(emu: DiscordEmulator, bot: Running) -> None:
    # A $0 budget for Alice: `!tts` is refused, and so is the same job asked for in plain words.
    await bot.core.store.set_budget(str(emu.guild_id), str(ALICE), 0.0, "test")
    emu.user_says(ALICE, "!tts hello")
    typed = await emu.wait_for(lambda m: m.author_id == emu.bot_user_id and "budget" in m.content)
    origin = emu.user_says(ALICE, mention(emu, "read this out loud: hello"))
    routed = await emu.wait_for(
        lambda m: m.author_id == emu.bot_user_id and m.id != typed.id and "budget" in m.content
    )
    assert routed.message_reference and int(routed.message_reference["message_id"]) == origin
    assert routed.content == typed.content
    assert await bot.core.store.user_jobs(str(ALICE)) == []
