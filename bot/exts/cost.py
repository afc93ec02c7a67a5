"""Admin commands for money: `/cost` (month-to-date spend, free tier, projection, CSV) and `/budget`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import discord
from discord.ext import commands

from bot.billing.ledger import Group, Ledger, MonthReport, month_bounds
from bot.exts._reply import reply_private
from bot.exts._submit import Ctx
from bot.exts.admin import admin_only_slash, is_owner, require_admin
from bot.frontends.messages import count

if TYPE_CHECKING:
    from bot.client import SpotrunBot

# Discord's embed limits (field value 1024, 6000 in total); lists are cut well below them.
_FIELD_VALUE = 1024
_EMBED_TOTAL = 6000

CSV_HEADER = (
    "id",
    "time",
    "guild",
    "user",
    "command",
    "agent",
    "state",
    "billed_s",
    "vcpu_s",
    "gib_s",
    "provider_usd",
    "total_usd",
    "after_free_tier_usd",
)


def usd(value: float) -> str:
    # Single jobs cost fractions of a cent: keep the digits that say something.
    return f"${value:.2f}" if value >= 1 else f"${value:.6f}".rstrip("0").rstrip(".") if value else "$0"


def _clip(lines: list[str], limit: int = _FIELD_VALUE) -> str:
    out, size = [], 0
    for line in lines:
        if size + len(line) + 1 > limit - 2:
            out.append("…")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out) or "—"


def _groups(groups: list[Group], label: str) -> str:
    return _clip([f"{label.format(g.key)} {usd(g.gross_usd)} · {count(g.jobs, 'job')}" for g in groups])


def cost_embed(report: MonthReport, *, whole_account: bool) -> discord.Embed:
    month = datetime.fromtimestamp(report.start, UTC).strftime("%B %Y")
    elapsed = report.elapsed_fraction
    scope = "all servers" if whole_account else "this server"
    embed = discord.Embed(
        title=f"Cost — {month}, month to date (UTC), {scope}",
        description=(
            f"**≈ {usd(report.gross_usd)}** list price · **≈ {usd(report.net_usd)}** after the free tier"
            f" · {count(report.jobs, 'job')}\n"
            "Estimates from agent-measured time (Cloud Run bills more: cold starts, idle instances); "
            "exact figures are in Cloud Monitoring and the billing export."
        ),
    )
    embed.add_field(
        name="Projection to month end",
        value=(
            f"linear on the {elapsed:.0%} of the month elapsed:"
            f" ≈ {usd(report.projected_gross_usd)} list price"
            + (f", ≈ {usd(report.projected_net_usd)} after the free tier" if whole_account else "")
        ),
        inline=False,
    )
    embed.add_field(
        name="Free tier (billing account)",
        value=_clip(
            [
                f"{name}: {a.covered:,.0f} used of {a.free:,.0f} · {a.left:,.0f} left"
                for name, a in (("vCPU-s", report.vcpu), ("GiB-s", report.gib), ("requests", report.requests))
            ]
        ),
        inline=False,
    )
    per_1000 = report.per_1000()
    embed.add_field(
        name="By agent (per 1000 commands)",
        value=_clip(
            [
                f"`{g.key}` {usd(g.gross_usd)} · {count(g.jobs, 'job')} · "
                f"{usd(per_1000.get(g.key, 0.0))} per 1000"
                for g in report.by_agent
            ]
        ),
        inline=False,
    )
    embed.add_field(name="By command", value=_groups(report.by_command, "`{}`"), inline=True)
    if whole_account:
        embed.add_field(name="By server", value=_groups(report.by_guild, "`{}`"), inline=True)
    embed.add_field(name="Top users", value=_groups(report.top_users, "<@{}>"), inline=True)
    embed.set_footer(text="list price = before the free tier, as on each job's receipt")
    assert len(embed) <= _EMBED_TOTAL, len(embed)
    return embed


def jobs_csv(rows: list[tuple[object, ...]], limit_bytes: int) -> tuple[bytes, int]:
    """The CSV and how many rows it holds (cut to stay under the upload limit)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_HEADER)
    kept = 0
    for row in rows:
        job_id, finished, guild, user, command, agent, state, b, v, g, p, gross, net = row
        when = datetime.fromtimestamp(float(finished), UTC).isoformat(timespec="seconds")  # type: ignore[arg-type]
        writer.writerow(
            [job_id, when, guild or "", user, command, agent, state, b, v, g, p, f"{gross:.8f}", f"{net:.8f}"]
        )
        if buf.tell() > limit_bytes - 1024:
            break
        kept += 1
    return buf.getvalue().encode(), kept


class Cost(commands.Cog):
    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot

    def ledger(self) -> Ledger:
        core = self.bot.core
        return Ledger(core.store, core.engine.runner.prices, core.registry)

    async def cog_check(self, ctx: Ctx) -> bool:  # type: ignore[override]
        return require_admin(ctx)

    @commands.hybrid_command(
        name="cost", description="Month-to-date spend, free tier and projection (admins)"
    )
    @admin_only_slash
    async def cost(self, ctx: Ctx, csv: bool = False) -> None:  # the option's name on Discord
        if ctx.interaction is not None:
            await ctx.defer(ephemeral=True)
        # Bot owners see every server; a server's admins see only their own server's spend.
        whole = is_owner(ctx) or ctx.guild is None
        guild = None if whole else str(ctx.guild.id)  # type: ignore[union-attr]
        ledger = self.ledger()
        report = await ledger.month(guild=guild)
        files = []
        if csv:
            rows = await ledger.jobs_csv_rows(guild=guild)
            data, kept = jobs_csv(rows, self.bot.settings.upload_limit_bytes)
            name = f"spotrun-cost-{datetime.fromtimestamp(report.start, UTC):%Y-%m}.csv"
            files.append(discord.File(io.BytesIO(data), filename=name))
        embed = cost_embed(report, whole_account=whole)
        content = None
        if csv and kept < len(rows):
            content = f"the CSV holds the first {kept:,} of {count(len(rows), 'job')} (upload limit)"
        await reply_private(ctx, content, embed=embed, files=files)

    @commands.hybrid_command(
        name="budget", description="This server's monthly budgets: view, set <amount> [user], lift [user]"
    )
    @commands.guild_only()
    @admin_only_slash
    async def budget(
        self,
        ctx: Ctx,
        action: Literal["view", "set", "lift"] = "view",
        amount: float | None = None,
        user: discord.Member | None = None,
    ) -> None:
        assert ctx.guild is not None
        guild_id, ledger = str(ctx.guild.id), self.ledger()
        who = str(user.id) if user else None
        if action == "set":
            if amount is None or not 0 < amount <= 1_000_000:
                raise commands.BadArgument("give the monthly budget in dollars, e.g. `/budget set 25`")
            await ledger.set_budget(guild_id, who, amount, by=str(ctx.author.id))
            await ledger.refresh_gauge(guild_id, discord.utils.utcnow().timestamp())
            text = f"monthly budget for {user.mention if user else 'this server'} set to {usd(amount)}"
        elif action == "lift":
            lifted = await ledger.lift_budget(guild_id, who)
            target = user.mention if user else "this server"
            text = f"budget for {target} lifted" if lifted else f"{target} has no budget to lift"
        else:
            text = await self._view(ledger, guild_id)
        await reply_private(ctx, text)

    async def _view(self, ledger: Ledger, guild_id: str) -> str:
        now = discord.utils.utcnow().timestamp()
        resets = int(month_bounds(now)[1])
        spent = await ledger.spent(guild_id, None, now)
        lines = [
            f"this server has spent ≈ {usd(spent)} this month (list price); budgets reset <t:{resets}:R>"
        ]
        budgets = await ledger.budgets(guild_id)
        for budget in budgets:
            status = await ledger.status(budget, now)
            target = f"<@{budget.user_id}>" if budget.user_id else "server"
            lines.append(
                f"• {target}: {usd(status.spent_usd)} of {usd(budget.amount_usd)} ({status.ratio:.0%})"
            )
        if not budgets:
            lines.append("no budget set: `/budget set <amount> [user]`")
        return _clip(lines, 2000)


async def setup(bot: SpotrunBot) -> None:
    await bot.add_cog(Cost(bot))
