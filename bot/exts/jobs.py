"""`jobs`, `cancel <job>` and `help`: the commands about jobs rather than agents."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands.help import help_lines
from bot.exts._reply import reply_private
from bot.exts._submit import Ctx
from bot.frontends.discord import may_cancel
from bot.frontends.render import FIELDS

if TYPE_CHECKING:
    from bot.client import SpotrunBot

_STATE_ICON = {"queued": "⏳", "running": "⚙️", "succeeded": "✅", "failed": "❌", "cancelled": "🛑"}


class Jobs(commands.Cog):
    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot

    @commands.hybrid_command(name="jobs", description="Your recent jobs and their state")
    async def jobs(self, ctx: Ctx) -> None:
        rows = await self.bot.core.store.user_jobs(str(ctx.author.id), limit=10)
        if not rows:
            await reply_private(ctx, "you have no jobs yet — try `/help`")
            return
        now = time.time()
        lines = [
            f"{_STATE_ICON.get(j.state.value, '')} `{j.id}` {j.command} — {j.state.value}, "
            f"{_ago(now - j.created_at)} ago" + (f" — {j.error_message}" if j.error_message else "")
            for j in rows
        ]
        await reply_private(ctx, "\n".join(lines)[:2000])

    @commands.hybrid_command(name="cancel", description="Cancel a queued or running job")
    @app_commands.describe(job="the job id shown on its status message")
    async def cancel(self, ctx: Ctx, job: str) -> None:
        record = await self.bot.core.store.get(job.strip("`"))
        if record is None:
            await reply_private(ctx, f"there is no job `{job}`")
            return
        if not may_cancel(ctx.author, record, self.bot.settings.owner_ids):
            raise commands.CheckFailure(
                "only the person who started this job or a server admin can cancel it"
            )
        outcome = await self.bot.core.engine.cancel(record.id, by=ctx.author.display_name)
        await reply_private(ctx, outcome)

    @cancel.autocomplete("job")
    async def cancel_choices(
        self, interaction: discord.Interaction[SpotrunBot], current: str
    ) -> list[app_commands.Choice[str]]:
        """The caller's own queued and running jobs (never anyone else's), newest first."""
        rows = await self.bot.core.store.user_jobs(str(interaction.user.id), limit=50)
        typed = current.strip("` ").lower()
        return [
            app_commands.Choice(name=f"{j.id} · {j.command} · {j.state.value}"[:100], value=j.id)
            for j in rows
            if j.state.value in ("queued", "running")
            and (not typed or typed in f"{j.id} {j.command}".lower())
        ][:25]  # Discord shows at most 25 choices

    @commands.hybrid_command(name="help", description="What this bot can do, with examples")
    async def help(self, ctx: Ctx) -> None:
        prefix = self.bot.settings.command_prefix
        embed = discord.Embed(
            title="spotrun commands",
            description=f"Use `{prefix}command` or `/command`. Attach files to the message (or the "
            "slash command's `file` option). Each command becomes a job with a status message you "
            "can cancel. Or mention me (or use `/ask`) and say what you want in plain words.",
        )
        lines = help_lines(prefix, slash=ctx.interaction is not None, specs=self.bot.catalog.specs())
        for head, body in lines[:FIELDS]:
            embed.add_field(name=head[:256], value=body[:1024], inline=False)
        await reply_private(ctx, embed=embed)


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


async def setup(bot: SpotrunBot) -> None:
    await bot.add_cog(Jobs(bot))
