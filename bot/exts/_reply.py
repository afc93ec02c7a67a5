"""Personal answers (jobs, cancel, help, admin views) said only to the person who asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.frontends.discord import NO_MENTIONS
from spotrun.logs import get_logger

if TYPE_CHECKING:
    from discord.ext import commands

    from bot.client import SpotrunBot

    Ctx = commands.Context[SpotrunBot]

log = get_logger("bot.reply")

CONTENT_MAX = 2000
MAILBOX = "📬"


async def reply_private(
    ctx: Ctx,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    files: list[discord.File] | None = None,
) -> None:
    """Ephemeral for a slash command. A prefix command in a server is answered as the setting
    SPOTRUN_PRIVATE_REPLIES says: `delete` (a reply that deletes itself), `dm`, or `public`."""
    extra: dict[str, Any] = {"embed": embed} if embed is not None else {}
    if files:
        extra["files"] = files
    if ctx.interaction is not None:
        await ctx.send(content, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra)
        return
    settings = ctx.bot.settings
    mode = settings.private_replies if ctx.guild is not None else "public"  # a DM is private already
    if mode == "dm":
        try:
            await ctx.author.send(content, allowed_mentions=NO_MENTIONS, **extra)
        except discord.Forbidden:
            mode = "delete"  # the user does not accept DMs from server members: answer briefly here
        else:
            try:
                await ctx.message.add_reaction(MAILBOX)
            except discord.HTTPException as exc:
                log.info("could not react to point at the DM", error=str(exc))
            return
    if mode == "delete":
        after = settings.private_reply_delete_after_s
        name = ctx.command.qualified_name if ctx.command else "help"
        note = f"-# deleted in {_duration(after)} · `/{name}` answers only you"
        body = (content or "")[: CONTENT_MAX - len(note) - 1]
        await ctx.reply(
            f"{body}\n{note}" if body else note,
            delete_after=after,
            mention_author=False,
            allowed_mentions=NO_MENTIONS,
            **extra,
        )
        return
    await ctx.reply(content, mention_author=False, allowed_mentions=NO_MENTIONS, **extra)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:g} s"
    return f"{seconds / 60:.0f} min"
