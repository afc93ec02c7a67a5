"""From a Discord message to a posted result: the real bot, the real agents, an emulated Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.runtime.main import Running, start_bot
from bot.settings import BotSettings
from spotrun.config import load_settings
from tests.bot.conftest import ADMIN, ALICE, BOB, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.helpers import serve

CSV = b"date,revenue\n2024-01-01,10\n2024-01-02,12\n2024-01-03,15\n2024-01-04,11\n"

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token="test-token", application_id=1000, bot_user_id=1000)
    emulator.start()
    emulator.add_user(ALICE, "alice")
    emulator.add_user(BOB, "bob")
    emulator.add_user(ADMIN, "boss", admin=True)
    with emulator.patch_discord():
        yield emulator
    emulator.stop()


@pytest.fixture
async def bot(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    monkeypatch.setenv("SPOTRUN_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("SPOTRUN_DISCORD_API_BASE", emu.api_base)
    monkeypatch.setenv("SPOTRUN_SYNC_GUILD_IDS", str(emu.guild_id))
    running = await start_bot(load_settings(BotSettings))
    await emu.wait_for_ready()
    yield running
    await running.stop()


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """Loopback pages for the scraper: one plain, one with a mass mention, one slow."""

    async def page(request: web.Request) -> web.Response:
        body = (
            "<html><head><title>Lighthouse Weekly</title></head><body><article><h1>Lighthouse Weekly</h1>"
            "<p>The lamp was restored this spring after a long winter of repairs by the volunteers.</p>"
            "<p>@everyone come to the reopening on Saturday, and bring <@&123> and <@5002> along.</p>"
            "</article></body></html>"
        )
        return web.Response(text=body, content_type="text/html")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "4")))
        return await page(request)

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/slow", slow)
    async with serve(app) as url:
        yield url


def result_of(emu: DiscordEmulator, job_text: str = ""):
    return lambda m: bool(m.embeds) and "vCPU-s" in m.text() and job_text in m.text()


@needs_agent("web-scraper")
async def test_scrape_posts_the_title_and_never_pings(emu: DiscordEmulator, bot: Running, site: str) -> None:
    origin = emu.user_says(ALICE, f"!scrape {site}/page")
    msg = await emu.wait_for(result_of(emu), timeout=30)
    assert "Lighthouse Weekly" in msg.text()
    assert "≈ $" in msg.text() and "GiB-s" in msg.text()  # the cost receipt footer
    # Agent output is untrusted: nothing it says may ping anyone.
    assert "@everyone" in msg.text()
    assert msg.allowed_mentions is not None and msg.allowed_mentions.get("parse") == []
    assert not msg.allowed_mentions.get("users") and not msg.allowed_mentions.get("roles")
    assert msg.message_reference and int(msg.message_reference["message_id"]) == origin
    # One message per job: the status message (nonce s…) became the result, with the final line on
    # top; the Cancel button gave way to Run again.
    assert msg.nonce and msg.nonce.startswith("s")
    assert msg.content.startswith("✅ done in") and msg.edits
    labels = [c.get("label") for row in msg.components for c in row["components"]]
    assert labels == ["Run again"]
    replies = [
        m for m in emu.messages() if m.message_reference and int(m.message_reference["message_id"]) == origin
    ]
    assert len(replies) == 1


@needs_agent("data-analysis")
async def test_analyze_with_a_csv_attachment_posts_statistics(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, "!analyze", attachments=[("sales.csv", CSV, "text/csv")])
    msg = await emu.wait_for(result_of(emu), timeout=30)
    text = msg.text()
    assert "4 rows" in text and "revenue" in text and "mean" in text


@needs_agent("audio-video")
async def test_tts_posts_an_audio_file(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(BOB, "!tts hello")
    msg = await emu.wait_for(lambda m: bool(m.attachments), timeout=30)
    name, data, ctype = msg.attachments[0]
    assert ctype.startswith("audio/")
    assert name.endswith(".mp3") and len(data) > 500
    assert data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")


@needs_agent("data-analysis")
async def test_slash_chart_answers_with_its_status_then_posts_a_png(
    emu: DiscordEmulator, bot: Running
) -> None:
    assert any(c["name"] == "chart" for c in emu.synced_commands)
    inter = emu.slash(
        ALICE,
        "chart",
        {"kind": "bar", "x": "date", "y": "revenue", "title": "Revenue"},
        attachments={"file": ("s.csv", CSV, "text/csv")},
    )
    msg = await emu.wait_for(lambda m: any(a[0].endswith(".png") for a in m.attachments), timeout=30)
    png = next(a for a in msg.attachments if a[0].endswith(".png"))
    assert png[1][:8] == b"\x89PNG\r\n\x1a\n"
    responses = emu.interaction_responses(inter)
    # Answered within the 3 s window by the status line itself (no defer), with its Cancel button.
    assert responses and responses[0]["type"] == 4
    assert "chart" in responses[0]["payload"]["data"]["content"]
    assert responses[0]["payload"]["data"]["components"]
    assert msg.allowed_mentions is not None and msg.allowed_mentions.get("parse") == []


@needs_agent("web-scraper")
async def test_cancel_queued_jobs_by_button_and_command_and_limits(
    emu: DiscordEmulator, bot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    monkeypatch.setenv("SPOTRUN_MAX_RUNNING_PER_USER", "1")
    monkeypatch.setenv("SPOTRUN_MAX_QUEUED_PER_USER", "2")
    monkeypatch.setenv("SPOTRUN_DISCORD_TOKEN", "test-token")
    monkeypatch.setenv("SPOTRUN_DISCORD_API_BASE", emu.api_base)
    running = await start_bot(load_settings(BotSettings))
    try:
        await emu.wait_for_ready()
        emu.user_says(ALICE, f"!scrape {site}/slow?s=6")
        await emu.wait_for(lambda m: "running on" in m.content, timeout=10)
        emu.user_says(ALICE, f"!scrape {site}/page?n=2")
        second = await emu.wait_for(lambda m: "position 1" in m.content, timeout=10)
        emu.user_says(ALICE, f"!scrape {site}/page?n=3")
        third = await emu.wait_for(lambda m: "position 2" in m.content, timeout=10)
        # Over the limit (1 running + 2 queued): refused with a clear message.
        emu.user_says(ALICE, f"!scrape {site}/page?n=4")
        refusal = await emu.wait_for(lambda m: "limit: 1 running + 2 queued" in m.content, timeout=10)
        assert refusal.allowed_mentions is not None and refusal.allowed_mentions.get("parse") == []

        # Bob may not cancel Alice's job; the admin may; Alice may cancel her own by command.
        custom_id = second.components[0]["components"][0]["custom_id"]
        job2 = custom_id.rsplit(":", 1)[1]
        emu.click(BOB, second.id, custom_id)
        await emu.wait_for(lambda m: "only the person who started" in m.content, timeout=10)
        emu.click(ADMIN, second.id, custom_id)
        await emu.wait_for(lambda m: m.id == second.id and "cancelled by boss" in m.content, timeout=10)
        job3 = third.components[0]["components"][0]["custom_id"].rsplit(":", 1)[1]
        emu.user_says(ALICE, f"!cancel {job3}")
        await emu.wait_for(lambda m: m.id == third.id and "cancelled by alice" in m.content, timeout=10)
        jobs = {j.id: j.state.value for j in await running.core.store.user_jobs(str(ALICE))}
        assert jobs[job2] == "cancelled" and jobs[job3] == "cancelled"
        assert len(jobs) == 3  # the refused command never became a job
        await emu.wait_for(lambda m: "done in" in m.content, timeout=20)  # the first one still finishes
    finally:
        await running.stop()


@pytest.mark.agents_down("image-gen")
async def test_agent_down_gives_a_specific_message(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, "!generate a lighthouse")
    msg = await emu.wait_for(lambda m: m.content.startswith("❌"), timeout=30)
    assert "the image agent is down right now; try again later" in msg.content
    assert msg.components == [] and not msg.embeds


async def test_bad_argument_gives_the_usage_line(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, "!tts speed=5 hi")
    msg = await emu.wait_for(lambda m: "usage:" in m.content, timeout=10)
    assert "`!tts <text> [voice=en] [format=mp3|ogg|wav]`" in msg.content and "`speed`" in msg.content
    emu.user_says(ALICE, "!nosuchcommand")  # unknown commands are chat: ignored quietly
    emu.user_says(ALICE, "!help")
    await emu.wait_for(lambda m: any(e.get("title") == "spotrun commands" for e in m.embeds), timeout=10)
    assert not any("nosuchcommand" in m.text() for m in emu.messages())


@needs_agent("image-gen")
async def test_provider_not_configured_is_explained(
    emu: DiscordEmulator, bot: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.user_says(ALICE, "!generate a lighthouse")
    msg = await emu.wait_for(lambda m: m.content.startswith("❌"), timeout=30)
    assert "image generation isn't set up on this bot — an admin must configure a provider" in msg.text()


async def test_slash_with_bad_arguments_gets_an_ephemeral_usage_line(
    emu: DiscordEmulator, bot: Running
) -> None:
    # Discord's client refuses speed:5 itself (min_value 80); a bad voice only the model catches.
    with pytest.raises(ValueError, match="min_value"):
        emu.slash(ALICE, "tts", {"text": "hi", "speed": 5})
    inter = emu.slash(ALICE, "tts", {"text": "hi", "voice": "bad voice!"})
    for _ in range(100):
        texts = [m.content for m in emu.messages() if m.interaction_id == inter]
        if any("usage:" in t for t in texts):
            break
        await asyncio.sleep(0.05)
    usage = next(m for m in emu.messages() if m.interaction_id == inter and "usage:" in m.content)
    assert "`voice`" in usage.content and usage.ephemeral
    # Refused before it became a job: the usage line is the interaction's only answer.
    assert [r["type"] for r in emu.interaction_responses(inter)] == [4]


@needs_agent("web-scraper")
async def test_discord_429_and_500_are_retried_by_discord_py_and_posted_once(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    emu.rate_limit_next("PATCH /channels/", retry_after=0.3)
    emu.fail_next("POST /channels/3000/messages", 500)
    emu.user_says(ALICE, f"!scrape {site}/page")
    await emu.wait_for(result_of(emu, "Lighthouse Weekly"), timeout=30)
    await emu.wait_for(lambda m: "done in" in m.content, timeout=5)
    await asyncio.sleep(0.5)  # a duplicate post would land here
    assert sum("Lighthouse Weekly" in m.text() and "vCPU-s" in m.text() for m in emu.messages()) == 1


MONTHLY = b"month,revenue\n" + b"".join(
    f"{d},{v}\n".encode()
    for d, v in zip(
        ["2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30", "2023-05-31", "2023-06-30",
         "2023-07-31", "2023-08-31", "2023-09-30", "2023-10-31", "2023-11-30", "2023-12-31"],
        [7221, 8150.5, 9020, 9875.25, 10110, 10980, 11520.75, 12005, 12480, 12990.5, 13201, 13420.5],
        strict=True,
    )
)


@needs_agent("data-analysis")
async def test_analyze_shows_each_column_in_one_number_format(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, "!analyze", attachments=[("monthly.csv", MONTHLY, "text/csv")])
    text = (await emu.wait_for(result_of(emu), timeout=30)).text()
    assert "e+0" not in text  # no scientific notation beside "7,221" in the same column
    assert "7,221" in text and "13,420" in text


@needs_agent("data-analysis")
async def test_predict_labels_rows_by_calendar_dates_found_in_the_file(
    emu: DiscordEmulator, bot: Running
) -> None:
    emu.user_says(ALICE, "!predict revenue steps=3", attachments=[("monthly.csv", MONTHLY, "text/csv")])
    text = (await emu.wait_for(result_of(emu), timeout=60)).text()
    # No x= given: the month column is found, and steps stay on month ends.
    assert "2024-01-31" in text and "2024-02-29" in text and "2024-03-31" in text


@needs_agent("web-scraper")
async def test_scrape_does_not_repeat_its_text_in_an_excerpt_field(
    emu: DiscordEmulator, bot: Running, site: str
) -> None:
    emu.user_says(ALICE, f"!scrape {site}/page")
    msg = await emu.wait_for(result_of(emu), timeout=30)
    names = [f["name"] for e in msg.embeds for f in e.get("fields", [])]
    assert "Excerpt" not in names
    assert msg.text().count("The lamp was restored this spring") == 1


async def test_a_command_while_the_job_store_refuses_writes_is_told_so_and_stores_nothing(
    emu: DiscordEmulator, bot: Running
) -> None:
    # A Cloud SQL failover or restart: the command cannot be stored. The user hears why, in
    # words, and nothing is queued behind their back (not "something went wrong").
    store = bot.core.store
    db = store._db  # the test breaks the store on purpose
    if store.dialect == "sqlite":
        breaks, mends = ["PRAGMA query_only = 1"], ["PRAGMA query_only = 0"]
    else:
        breaks = [
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "'BEGIN RAISE EXCEPTION ''writes refused''; END'",
            "CREATE TRIGGER refuse BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
        mends = ["DROP TRIGGER refuse ON jobs"]
    for sql in breaks:
        await db.execute(sql)
    try:
        emu.user_says(ALICE, "!tts hello")
        msg = await emu.wait_for(lambda m: "job store" in m.content, timeout=15)
        assert "try again in a minute" in msg.content and "ref `" not in msg.content
    finally:
        for sql in mends:
            await db.execute(sql)
    assert await store.user_jobs(str(ALICE)) == []
