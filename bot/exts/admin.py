"""The admin checks shared by the admin extensions (bot.exts.cost, bot.exts.status)."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.exts._submit import Ctx


def is_owner(ctx: Ctx) -> bool:
    return ctx.author.id in ctx.bot.settings.owner_ids


def require_admin(ctx: Ctx) -> bool:
    """The one admin check (cog_check of every admin cog): Manage Server, or SPOTRUN_OWNER_IDS."""
    perms = getattr(ctx.author, "guild_permissions", None)
    if is_owner(ctx) or (perms and perms.manage_guild):
        return True
    raise commands.CheckFailure("admin commands need Manage Server (or a bot owner)")


def is_administrator(user: discord.abc.User, owner_ids: tuple[int, ...]) -> bool:
    """Administrator in this server, or a bot owner (SPOTRUN_OWNER_IDS) anywhere."""
    if user.id in owner_ids:
        return True
    perms = getattr(user, "guild_permissions", None)
    return bool(perms and perms.administrator)


def require_administrator(ctx: Ctx) -> bool:
    """For views of the whole bot (/status: pods, nodes, every agent): Administrator, or an owner."""
    if is_administrator(ctx.author, ctx.bot.settings.owner_ids):
        return True
    raise commands.CheckFailure("this command is for server administrators (or a bot owner)")
