"""Admin commands. For now only `status` (agents and queue); /cost and /budget come next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from bot.exts._submit import Ctx
from bot.frontends.discord import NO_MENTIONS

if TYPE_CHECKING:
    from bot.client import SpotrunBot


def is_owner(ctx: Ctx) -> bool:
    return ctx.author.id in ctx.bot.settings.owner_ids


def require_admin(ctx: Ctx) -> bool:
    """The one admin check (cog_check of every admin cog): Manage Server, or SPOTRUN_OWNER_IDS."""
    perms = getattr(ctx.author, "guild_permissions", None)
    if is_owner(ctx) or (perms and perms.manage_guild):
        return True
    raise commands.CheckFailure("admin commands need Manage Server (or a bot owner)")


class Admin(commands.Cog):
    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot

    async def cog_check(self, ctx: Ctx) -> bool:  # type: ignore[override]
        return require_admin(ctx)

    @commands.hybrid_command(name="status", description="Agents, breakers and the job queue (admins)")
    async def status(self, ctx: Ctx) -> None:
        core = self.bot.core
        lines = [f"queue: {core.engine.queue.depth} waiting"]
        for agent in core.registry:
            lines.append(
                f"`{agent.name}` breaker {core.client.breaker_state(agent.name).value}, "
                f"{core.client.in_flight(agent.name)}/{agent.max_concurrency} in flight"
            )
        await ctx.send("\n".join(lines), ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: SpotrunBot) -> None:
    await bot.add_cog(Admin(bot))
