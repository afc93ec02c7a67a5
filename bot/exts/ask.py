"""Plain-language requests: a message that mentions the bot, a reply to the bot, a DM, or `/ask`,
routed (bot.router) to the job the matching command would have made. `!x` is never routed."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.exts.errors import report_error
from bot.frontends.answers import PUBLIC_DEFER
from bot.frontends.discord import NO_MENTIONS
from bot.router import Decision, Router, RouterSettings, build_router, routables
from bot.router.buttons import FixButton, PickButton, choices_view
from bot.router.extract import FileInfo
from bot.router.frontend import RoutedDiscordFrontend
from bot.router.records import FileRef, ReadingRef, RouteRecord, RouteRecords
from bot.router.start import FRONTEND, capabilities, read_attachments, start_reading
from spotrun.config import load_settings
from spotrun.logs import get_logger
from spotrun.protocol import InputFile

if TYPE_CHECKING:
    from bot.client import SpotrunBot

log = get_logger("bot.exts.ask")

NOTHING = "I don't know how to do that yet. I can:"
EMPTY = (
    "Tell me what you'd like in plain words, e.g. “make a bar chart of revenue by month” with a CSV "
    "attached. I can:"
)


class Ask(commands.Cog):
    def __init__(self, bot: SpotrunBot, settings: RouterSettings) -> None:
        self.bot = bot
        self.settings = settings
        self.records = RouteRecords(bot.core.store)
        self.router: Router = self._build()

    def _build(self) -> Router:
        return build_router(routables(self.bot.catalog), self.settings, self.bot.core.session)

    async def on_catalog_change(self) -> None:
        # A new or changed agent is routable at once: the router is rebuilt from the manifests.
        self.router = self._build()

    # ----------------------------------------------------------------------------- triggers

    def _addressed(self, message: discord.Message) -> tuple[str, bool] | None:
        """(the request's words, whether the bot was called by name or in a DM) when the message
        is for the router, else None. A reply that only pings the bot is addressed too, quietly:
        "thanks!" under a result gets no list of commands."""
        me = self.bot.user
        if me is None or message.author.bot or not self.settings.enabled:
            return None
        content = message.content or ""
        if content.startswith(self.bot.settings.command_prefix):
            return None  # `!x`: the command, as typed
        mentioned = any(u.id == me.id for u in message.mentions)
        ref = message.reference.resolved if message.reference else None
        replied = isinstance(ref, discord.Message) and ref.author.id == me.id
        direct = isinstance(message.channel, discord.DMChannel)
        if not (mentioned or replied or direct):
            return None
        called = direct or any(form in content for form in (f"<@{me.id}>", f"<@!{me.id}>"))
        for form in (f"<@{me.id}>", f"<@!{me.id}>"):
            content = content.replace(form, " ")
        return " ".join(content.split()), called

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        addressed = self._addressed(message)
        if addressed is None:
            return
        text, called = addressed
        if not text and not message.attachments and not called:
            return  # a reply with nothing in it (or blanked: no Message Content intent)
        guild_id = message.guild.id if message.guild is not None else None
        # "a:" not "m:": a mention is not a prefix command, so the two claims never collide.
        if not await self.bot.keeper.should_handle(guild_id, f"a:{message.id}"):
            return  # a shard held elsewhere, or the other session of a hand-over took it
        ctx = await self.bot.get_context(message)
        try:
            if not text and not message.attachments:
                await message.reply(
                    capabilities(self.bot, EMPTY), mention_author=False, allowed_mentions=NO_MENTIONS
                )
                return
            files, infos, refs = await read_attachments(self.bot, list(message.attachments))
            decision = await self._route(text, infos)
            record = self._record(message.author.id, message.guild, message.channel.id, text, refs, decision)
            if decision.outcome == "run":
                record.picked.append(0)
                await self.records.save(record)
                await start_reading(
                    self.bot,
                    self.records,
                    record,
                    0,
                    files,
                    channel=message.channel,
                    origin_message_id=str(message.id),
                )
                return
            if decision.outcome == "none" and not called:
                return  # chat in reply to the bot, not a request
            content, view = await self._answer(record, decision)
            await message.reply(content, view=view, mention_author=False, allowed_mentions=NO_MENTIONS)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the one error handler words it for the user
            await report_error(ctx, exc)

    @app_commands.command(name="ask", description="Ask in plain words; the bot picks the command")
    @app_commands.describe(text="what you want, in your words", file="a file to work on (optional)")
    async def ask(
        self, interaction: discord.Interaction[SpotrunBot], text: str, file: discord.Attachment | None = None
    ) -> None:
        ctx = await commands.Context.from_interaction(interaction)
        # Acknowledge within Discord's 3 s: reading the file and an LLM router may take longer.
        await interaction.response.defer(thinking=True)
        try:
            attachments = [file] if file is not None else []
            files, infos, refs = await read_attachments(self.bot, attachments)
            decision = await self._route(text, infos)
            assert interaction.channel_id is not None
            record = self._record(
                interaction.user.id, interaction.guild, interaction.channel_id, text, refs, decision
            )
            if decision.outcome == "run":
                record.picked.append(0)
                await self.records.save(record)
                assert interaction.channel is not None
                await self._start(record, files, interaction)
                return
            content, view = await self._answer(record, decision)
            await interaction.followup.send(content, view=view, allowed_mentions=NO_MENTIONS)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the one error handler words it for the user
            interaction.extras[PUBLIC_DEFER] = True  # withdraw the public "thinking…"
            await report_error(ctx, exc)

    async def _start(
        self, record: RouteRecord, files: list[InputFile], interaction: discord.Interaction[SpotrunBot]
    ) -> None:
        assert interaction.channel is not None
        await start_reading(
            self.bot,
            self.records,
            record,
            0,
            files,
            channel=cast(discord.abc.Messageable, interaction.channel),
            interaction=interaction,
        )

    # ------------------------------------------------------------------------------ helpers

    async def _route(self, text: str, infos: list[FileInfo]) -> Decision:
        started = time.perf_counter()
        decision = await self.router.route(
            text[: self.settings.max_text_chars], infos, self.bot.settings.command_prefix
        )
        log.info(
            "request routed",
            router=decision.router,
            outcome=decision.outcome,
            command=decision.top.command if decision.top else None,
            readings=len(decision.readings),
            ms=round((time.perf_counter() - started) * 1000, 1),
            note=decision.note or None,
        )
        return decision

    def _record(
        self,
        user_id: int,
        guild: discord.Guild | None,
        channel_id: int,
        text: str,
        refs: list[FileRef],
        decision: Decision,
    ) -> RouteRecord:
        return RouteRecord(
            user_id=str(user_id),
            guild_id=str(guild.id) if guild else None,
            channel_id=str(channel_id),
            text=text[:500],
            files=refs,
            readings=[ReadingRef(r.command, r.args, r.line) for r in decision.readings if r.problem is None][
                :4
            ],
            router=decision.router,
            cost_usd=decision.cost_usd,
        )

    async def _answer(self, record: RouteRecord, decision: Decision) -> tuple[str, discord.ui.View | None]:
        """What to say when nothing runs at once: the choices, what is missing, or what the bot does."""
        if decision.outcome == "choose" and record.readings:
            await self.records.save(record)
            return "Did you mean…? Pick one — nothing runs until you do.", choices_view(record)
        top = decision.top
        if decision.outcome == "need" and top is not None:
            return f"→ `{top.line}` — {top.problem}", None
        return capabilities(self.bot, NOTHING), None


async def setup(bot: SpotrunBot) -> None:
    settings = load_settings(RouterSettings)
    cog = Ask(bot, settings)
    await bot.add_cog(cog)
    bot.catalog.on_change(cog.on_catalog_change)
    bot.add_dynamic_items(PickButton, FixButton)
    # Routed jobs show how they were understood; every process that runs jobs needs this frontend.
    bot.core.frontends[FRONTEND] = RoutedDiscordFrontend(bot, cog.records)
