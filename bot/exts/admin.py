"""The one admin check shared by the admin extensions (bot.exts.cost, bot.exts.status)."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.exts._submit import Ctx


def is_owner(ctx: Ctx) -> bool:
    return ctx.author.id in ctx.bot.settings.owner_ids


def is_administrator(user: discord.abc.User, owner_ids: tuple[int, ...]) -> bool:
    """Administrator in this server, or a bot owner (SPOTRUN_OWNER_IDS) anywhere."""
    if user.id in owner_ids:
        return True
    perms = getattr(user, "guild_permissions", None)
    return bool(perms and perms.administrator)


def require_admin(ctx: Ctx) -> bool:
    """cog_check of every admin cog (/status, /cost, /budget): Administrator, or a bot owner."""
    if is_administrator(ctx.author, ctx.bot.settings.owner_ids):
        return True
    raise commands.CheckFailure("admin commands are for server administrators (or a bot owner)")
