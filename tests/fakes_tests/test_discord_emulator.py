"""The Discord emulator against the real discord.py client: gateway, prefix, slash, buttons, files, faults."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import DiscordEmulator

ALICE, ROOT = 5001, 5002
pytestmark = pytest.mark.timeout(60)


class Buttons(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Go", custom_id="go")
    async def go(self, interaction: discord.Interaction, button: discord.ui.Button[Buttons]) -> None:
        await interaction.response.edit_message(content=f"clicked by {interaction.user.name}", view=None)


async def ping(ctx: commands.Context[TinyBot]) -> None:
    await ctx.defer()
    await ctx.send("pong")


async def report(ctx: commands.Context[TinyBot]) -> None:
    embed = discord.Embed(title="Report", description="all good").add_field(name="rows", value="3")
    file = discord.File(io.BytesIO(b"a,b\n1,2\n"), filename="report.csv")
    await ctx.reply(embed=embed, file=file, allowed_mentions=discord.AllowedMentions.none())


async def readfile(ctx: commands.Context[TinyBot]) -> None:
    att = ctx.message.attachments[0]
    data = await att.read()
    await ctx.send(f"{att.filename}:{att.content_type}:{data.decode()}")


async def buttons(ctx: commands.Context[TinyBot]) -> None:
    await ctx.send("choose", view=Buttons())


async def upload(interaction: discord.Interaction, file: discord.Attachment, note: str = "") -> None:
    data = await file.read()
    await interaction.response.send_message(f"got {file.filename} {len(data)} {note}")


async def slow(interaction: discord.Interaction[TinyBot]) -> None:
    await interaction.response.defer(thinking=True)
    await interaction.client.gate.wait()
    try:
        await interaction.followup.send("late result")
    except discord.HTTPException as exc:
        assert interaction.channel is not None
        await interaction.channel.send(f"late result (token refused: {exc.code})")  # type: ignore[union-attr]


async def lazy(interaction: discord.Interaction[TinyBot]) -> None:
    await interaction.client.gate.wait()
    try:
        await interaction.response.send_message("too late")
    except discord.NotFound as exc:
        await interaction.channel.send(f"missed the ack deadline ({exc.code})")  # type: ignore[union-attr]


class TinyBot(commands.AutoShardedBot):
    """Just enough bot to drive every emulator surface a real spotrun bot uses."""

    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.1)
        self.guild_id = guild_id
        self.gate = asyncio.Event()
        self.add_command(commands.hybrid_command(name="ping", description="pong")(ping))
        self.add_command(commands.command(name="report")(report))
        self.add_command(commands.command(name="readfile")(readfile))
        self.add_command(commands.command(name="buttons")(buttons))
        self.tree.add_command(app_commands.Command(name="upload", description="u", callback=upload))
        self.tree.add_command(app_commands.Command(name="slow", description="s", callback=slow))
        self.tree.add_command(app_commands.Command(name="lazy", description="l", callback=lazy))

    async def setup_hook(self) -> None:
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    with DiscordEmulator() as e, e.patch_discord():
        e.add_user(ALICE, "alice")
        e.add_user(ROOT, "root", admin=True)
        yield e
        assert e.unknown_routes == [], "the bot called routes the emulator lacks"


@pytest.fixture
async def bot(emu: DiscordEmulator) -> AsyncIterator[TinyBot]:
    b = TinyBot(emu.guild_id)
    task = asyncio.create_task(b.start(emu.token))
    await emu.wait_for_ready()
    await asyncio.wait_for(b.wait_until_ready(), 10)
    yield b
    await b.close()
    await asyncio.wait_for(task, 10)


async def test_connects_via_gateway_bot_and_identifies_once(emu: DiscordEmulator, bot: TinyBot) -> None:
    assert ("GET", "/gateway/bot") in emu.requests
    assert emu.identify_count == 1 and emu.sessions == 1
    channel = bot.get_channel(emu.channel_id)
    assert isinstance(channel, discord.TextChannel) and channel.name == "general"
    guild = bot.get_guild(emu.guild_id)
    assert guild is not None
    assert (await guild.fetch_member(ROOT)).guild_permissions.administrator
    assert not (await guild.fetch_member(ALICE)).guild_permissions.administrator
    assert {c["name"] for c in emu.synced_commands} == {"ping", "upload", "slow", "lazy"}


async def test_prefix_command_replies_with_embed_and_file(emu: DiscordEmulator, bot: TinyBot) -> None:
    said = emu.user_says(ALICE, "!report")
    msg = await emu.wait_for(lambda m: "Report" in m.text())
    assert msg.attachments == [("report.csv", b"a,b\n1,2\n", "text/csv")]
    assert msg.message_reference is not None and msg.message_reference["message_id"] == said
    assert msg.allowed_mentions == {"parse": []}  # kept exactly as sent
    assert "rows: 3" in msg.text() and msg.nonce is not None


async def test_bot_reads_a_user_attachment_from_the_cdn_route(emu: DiscordEmulator, bot: TinyBot) -> None:
    emu.user_says(ALICE, "!readfile", attachments=[("in.txt", b"hello", "text/plain")])
    msg = await emu.wait_for(lambda m: m.content.startswith("in.txt"))
    assert msg.content == "in.txt:text/plain:hello"


async def test_slash_hybrid_defers_then_follow_up_replaces_placeholder(
    emu: DiscordEmulator, bot: TinyBot
) -> None:
    iid = emu.slash(ALICE, "ping")
    msg = await emu.wait_for(lambda m: m.content == "pong")
    assert msg.interaction_id == iid
    kinds = [(r["kind"], r.get("type")) for r in emu.interaction_responses(iid)]
    assert kinds == [("callback", 5), ("followup", None)]
    assert len(emu.messages()) == 1  # the "thinking" placeholder became the follow-up


async def test_slash_attachment_option_is_resolved(emu: DiscordEmulator, bot: TinyBot) -> None:
    iid = emu.slash(ROOT, "upload", {"note": "hi"}, attachments={"file": ("data.bin", b"\x00" * 42, "x/y")})
    msg = await emu.wait_for(lambda m: m.content.startswith("got"))
    assert msg.content == "got data.bin 42 hi"
    assert [r["type"] for r in emu.interaction_responses(iid)] == [4]
    with pytest.raises(ValueError, match="no option"):
        emu.slash(ROOT, "upload", {"bogus": 1})


async def test_button_click_updates_the_message(emu: DiscordEmulator, bot: TinyBot) -> None:
    emu.user_says(ALICE, "!buttons")
    menu = await emu.wait_for(lambda m: m.content == "choose")
    assert menu.components[0]["components"][0]["custom_id"] == "go"
    iid = emu.click(ALICE, menu.id, "go")
    msg = await emu.wait_for(lambda m: m.content == "clicked by alice")
    assert msg.id == menu.id and msg.components == [] and len(msg.edits) == 1
    assert [r["type"] for r in emu.interaction_responses(iid)] == [7]


async def test_nonce_deduplicates_create_message(emu: DiscordEmulator, bot: TinyBot) -> None:
    channel = bot.get_channel(emu.channel_id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("job 42 done", nonce="job-42")
    second = await channel.send("job 42 done", nonce="job-42")
    assert first.id == second.id
    assert [m.content for m in emu.messages()] == ["job 42 done"]


async def test_injected_429_is_retried_once_by_discord_py(emu: DiscordEmulator, bot: TinyBot) -> None:
    path = f"/channels/{emu.channel_id}/messages"
    emu.rate_limit_next(f"POST {path}", retry_after=0.1)
    emu.user_says(ALICE, "!report")
    await emu.wait_for(lambda m: "Report" in m.text())
    assert emu.requests.count(("POST", path)) == 2
    assert len(emu.messages()) == 1


async def test_expired_interaction_token_is_refused(emu: DiscordEmulator, bot: TinyBot) -> None:
    iid = emu.slash(ALICE, "slow")
    await _until(lambda: emu.interaction_responses(iid))
    emu.advance_time(16 * 60)
    bot.gate.set()
    await emu.wait_for(lambda m: m.content == "late result (token refused: 50027)")


async def test_webhook_partial_edits_original_then_follows_up(emu: DiscordEmulator, bot: TinyBot) -> None:
    iid = emu.slash(ALICE, "slow")
    await _until(lambda: emu.interaction_responses(iid))
    hook = discord.Webhook.partial(emu.application_id, emu.interaction_token(iid), client=bot)
    status = await hook.edit_message(
        "@original", content="working…", allowed_mentions=discord.AllowedMentions.none()
    )
    result = await hook.send("result", wait=True)
    bot.gate.set()
    late = await emu.wait_for(lambda m: m.content == "late result")
    original = await emu.wait_for(lambda m: m.id == status.id)
    assert original.content == "working…" and original.edits[0]["content"] == "working…"
    assert len({status.id, result.id, late.id}) == 3
    kinds = [r["kind"] for r in emu.interaction_responses(iid)]
    assert kinds == ["callback", "edit", "followup", "followup"]


async def test_direct_messages_both_ways(emu: DiscordEmulator, bot: TinyBot) -> None:
    dm = emu.dm_channel(ALICE)
    emu.user_says(ALICE, "!ping", channel_id=dm)
    reply = await emu.wait_for(lambda m: m.content == "pong")
    assert reply.channel_id == dm
    user = await bot.fetch_user(ALICE)
    await user.send("hello alice")
    assert [m.content for m in emu.messages(dm)] == ["pong", "hello alice"]


async def test_injected_500_is_retried(emu: DiscordEmulator, bot: TinyBot) -> None:
    emu.fail_next("/typing", 502)
    channel = bot.get_channel(emu.channel_id)
    assert isinstance(channel, discord.TextChannel)
    await channel.typing()
    assert emu.requests.count(("POST", f"/channels/{emu.channel_id}/typing")) == 2


async def test_late_ack_is_an_unknown_interaction(emu: DiscordEmulator, bot: TinyBot) -> None:
    emu.slash(ALICE, "lazy")
    await asyncio.sleep(0.1)
    emu.advance_time(4)
    bot.gate.set()
    await emu.wait_for(lambda m: m.content == "missed the ack deadline (10062)")


async def test_disconnect_resumes_and_replays_missed_events(emu: DiscordEmulator, bot: TinyBot) -> None:
    emu.disconnect_all(4000)
    emu.user_says(ALICE, "!ping")  # may land while the bot is away: RESUME must replay it
    await emu.wait_for(lambda m: m.content == "pong")
    await _until(lambda: emu.resume_count == 1 and emu.sessions == 1)
    assert emu.identify_count == 1


async def test_without_message_content_intent_prefix_commands_see_nothing(emu: DiscordEmulator) -> None:
    seen: list[str] = []
    intents = discord.Intents.default()  # no message_content: Discord blanks the content
    b = commands.AutoShardedBot(command_prefix="!", intents=intents, guild_ready_timeout=0.1)

    async def record(message: discord.Message) -> None:
        seen.append(message.content)

    b.add_listener(record, "on_message")
    task = asyncio.create_task(b.start(emu.token))
    try:
        await emu.wait_for_ready()
        emu.user_says(ALICE, "!report")
        emu.user_says(ALICE, f"<@{emu.bot_user_id}> hi")
        await _until(lambda: len(seen) == 2)
        assert seen == ["", f"<@{emu.bot_user_id}> hi"]
    finally:
        await b.close()
        await asyncio.wait_for(task, 10)


async def test_wrong_token_fails_login(emu: DiscordEmulator) -> None:
    b = commands.AutoShardedBot(command_prefix="!", intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await b.start("wrong")
    await b.close()


async def _until(cond: Callable[[], object], within: float = 10) -> None:
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110 - the condition is set by another thread
            await asyncio.sleep(0.02)


async def test_guilds_are_routed_to_their_shard_and_counted_per_shard(emu: DiscordEmulator) -> None:
    """Two clients each run one of two shards (as two pods would): each sees only its guilds and
    their messages; DMs go to shard 0; IDENTIFYs and sessions are counted per shard."""
    emu.shard_count = 2
    emu.max_concurrency = 2
    other = DiscordEmulator.guild_id_on_shard(1, 2)
    other_channel = emu.add_guild(other, 3999)
    assert (emu.guild_id >> 22) % 2 == 0 and (other >> 22) % 2 == 1
    auth = {"Authorization": f"Bot {emu.token}"}
    async with aiohttp.ClientSession() as http, http.get(f"{emu.api_base}/gateway/bot", headers=auth) as resp:
        limits = await resp.json()
    assert limits["shards"] == 2 and limits["session_start_limit"]["max_concurrency"] == 2

    seen: dict[int, list[str]] = {0: [], 1: []}
    bots, tasks = [], []
    for shard in (0, 1):
        intents = discord.Intents.default()
        intents.message_content = True
        b = commands.AutoShardedBot(
            command_prefix="!", intents=intents, guild_ready_timeout=0.1, shard_ids=[shard], shard_count=2
        )

        async def record(message: discord.Message, shard: int = shard) -> None:
            seen[shard].append(message.content)

        b.add_listener(record, "on_message")
        bots.append(b)
        tasks.append(asyncio.create_task(b.start(emu.token)))
    try:
        await _until(lambda: emu.sessions_on(0) == 1 and emu.sessions_on(1) == 1)
        await _until(lambda: all(b.is_ready() for b in bots))
        assert [g.id for g in bots[0].guilds] == [emu.guild_id]
        assert [g.id for g in bots[1].guilds] == [other]
        emu.user_says(ALICE, "in the first guild")
        emu.user_says(ALICE, "in the other guild", channel_id=other_channel)
        emu.user_says(ALICE, "a DM", channel_id=emu.dm_channel(ALICE))
        await _until(lambda: len(seen[0]) == 2 and len(seen[1]) == 1)
        assert seen == {0: ["in the first guild", "a DM"], 1: ["in the other guild"]}
        assert (emu.identifies_on(0), emu.identifies_on(1)) == (1, 1)
        assert emu.max_sessions_on(0) == 1
        since = time.monotonic()
        await bots[1].close()
        await _until(lambda: emu.sessions_on(1) == 0)
        await asyncio.sleep(0.2)
        assert emu.presence_gap(1, since) >= 0.2 and emu.presence_gap(0, since) == 0
    finally:
        for b in bots:
            await b.close()
        for task in tasks:
            await asyncio.wait_for(task, 10)
