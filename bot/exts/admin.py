"""The one admin check shared by the admin extensions (bot.exts.cost, bot.exts.status)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.exts._submit import Ctx

F = TypeVar("F", bound=Callable[..., Any])


def admin_only_slash(func: F) -> F:
    """Discord shows the slash form only to members with Administrator, and only in servers
    (admins can widen it per server in Integrations). Bot owners without the permission keep the
    prefix form; require_admin still decides at run time."""
    return app_commands.guild_only(app_commands.default_permissions(administrator=True)(func))


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
