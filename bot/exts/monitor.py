"""`monitor`: watch a page (or part of it) and post here when it changes; checks are jobs (bot.monitors)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.exts._submit import Ctx
from bot.frontends.discord import NO_MENTIONS
from bot.jobs.store import Monitor, MonitorCaps, MonitorRefused
from bot.monitors.change import BadIgnoreRule, IgnoreRules, escape_code
from bot.monitors.interval import BadInterval, format_seconds, parse_interval
from bot.monitors.notices import Notices
from bot.monitors.outcome import FRONTEND, MonitorOutcomes
from bot.monitors.scheduler import MonitorScheduler
from spotrun.protocol import ExtractArgs, ScrapeArgs

if TYPE_CHECKING:
    from bot.client import SpotrunBot

_MAX_SELECTOR = 200


def parse_options(text: str) -> tuple[str | None, list[str]]:
    """`selector=<css>` (once) and `ignore=<text or /regex/>` (repeatable), shell-quoted."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise commands.BadArgument(f"could not read the options: {exc}") from None
    selector, ignore = None, []
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or key not in ("selector", "ignore"):
            raise commands.BadArgument(
                f"`{escape_code(token[:40])}` is not an option: "
                "use selector=<css> or ignore=<text or /regex/>"
            )
        if key == "selector":
            if selector is not None:
                raise commands.BadArgument("give one selector per monitor")
            selector = value.strip()
            if not selector or len(selector) > _MAX_SELECTOR:
                raise commands.BadArgument(f"a selector is 1 to {_MAX_SELECTOR} characters long")
        else:
            ignore.append(value)
    return selector, ignore


def _may_remove(ctx: Ctx, mon: Monitor) -> bool:
    """Its owner, a bot owner, or someone who manages the server it posts in."""
    if str(ctx.author.id) == mon.user_id or ctx.author.id in ctx.bot.settings.owner_ids:
        return True
    perms = getattr(ctx.author, "guild_permissions", None)
    return bool(mon.guild_id and perms and (perms.manage_guild or perms.administrator))


def _when(ts: float | None, never: str) -> str:
    return f"<t:{int(ts)}:R>" if ts else never


def describe(mon: Monitor) -> str:
    every = mon.interval_text or format_seconds(mon.interval_s)
    part = f" `{escape_code(mon.selector)}`" if mon.selector else ""
    line = (
        f"`{mon.id}` <{mon.url}>{part} every {every} — last check {_when(mon.last_checked_at, 'not yet')}, "
        f"last change {_when(mon.last_change_at, 'none seen')}"
    )
    if mon.last_error:
        line += f" — last error ({mon.failures}× in a row): {mon.last_error}"
    return line


class Monitors(commands.Cog):
    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot
        core = bot.core
        self.outcomes = MonitorOutcomes(core.store, Notices(bot), bot.settings)
        self.scheduler = MonitorScheduler(
            core.store, core.engine, self.outcomes, bot.settings, core.engine.runner.prices
        )

    async def cog_load(self) -> None:
        # Registered before the engine starts (setup_hook loads extensions first), so checks a
        # previous process left queued are re-admitted, and unposted outcomes are handled.
        self.bot.core.frontends[FRONTEND] = self.outcomes
        # The schedule lives in the store, so a restarted bot simply picks up what is due.
        self.scheduler.start(self.bot.wait_until_ready)

    async def cog_unload(self) -> None:
        await self.scheduler.stop()

    def _caps(self) -> MonitorCaps:
        s = self.bot.settings
        return MonitorCaps(s.monitors_per_guild, s.monitors_per_dm, s.monitors_per_user)

    @commands.hybrid_group(
        name="monitor",
        fallback="add",
        invoke_without_command=True,
        description="Watch a page and post here when it changes",
    )
    @app_commands.describe(
        url="the page to watch",
        interval="how often: 30s, 10m, 2h, 1d, or minutes (default 1h)",
        options="selector=<css> to watch part of the page; ignore=<text or /regex/> (repeatable)",
    )
    async def monitor(self, ctx: Ctx, url: str, interval: str | None = None, *, options: str = "") -> None:
        settings = self.bot.settings
        if interval is not None and "=" in interval:  # `!monitor <url> selector=…` without an interval
            interval, options = None, f"{interval} {options}".strip()
        selector, ignore_values = parse_options(options)
        # A bad URL or selector fails here, with the usage line, before anything is stored.
        if selector is None:
            ScrapeArgs(url=url)
        else:
            ExtractArgs(url=url, selector=selector)
        try:
            rules = IgnoreRules.parse(ignore_values)
            if interval is None:
                interval_s, shown = (
                    settings.monitor_interval_default_s,
                    format_seconds(settings.monitor_interval_default_s),
                )
            else:
                interval_s, shown = parse_interval(interval, settings.monitor_interval_min_s)
        except (BadInterval, BadIgnoreRule) as exc:
            raise commands.BadArgument(str(exc)) from None
        guild_id = str(ctx.guild.id) if ctx.guild else None
        try:
            mon = await self.bot.core.store.add_monitor(
                url=url,
                interval_s=interval_s,
                user_id=str(ctx.author.id),
                guild_id=guild_id,
                channel_id=str(ctx.channel.id),
                caps=self._caps(),
                interval_text=shown,
                selector=selector,
                ignore_json=rules.to_json(),
            )
        except MonitorRefused as refused:
            raise commands.CheckFailure(self._refusal(refused)) from None
        extras = f" (only `{escape_code(selector)}`)" if selector else ""
        if rules.rules:
            extras += f" ignoring {rules.describe()}"
        await ctx.send(f"watching <{url}>{extras} every {shown} as `{mon.id}`", allowed_mentions=NO_MENTIONS)

    def _refusal(self, refused: MonitorRefused) -> str:
        prefix = self.bot.settings.command_prefix
        remove = f"remove one first with `{prefix}monitor remove <id>` (see `{prefix}monitor list`)"
        if refused.reason == "duplicate" and refused.existing is not None:
            mon = refused.existing
            return (
                f"this channel already watches <{mon.url}> as `{mon.id}` (every "
                f"{mon.interval_text or format_seconds(mon.interval_s)}); remove it first to change it"
            )
        if refused.reason == "guild":
            return f"this server already has {refused.cap} monitors (the limit); {remove}"
        if refused.reason == "dm":
            return f"you already have {refused.cap} monitors in this DM (the limit); {remove}"
        return f"you already own {refused.cap} monitors (the limit per person); {remove}"

    async def _here(self, ctx: Ctx) -> list[Monitor]:
        store = self.bot.core.store
        if ctx.guild is not None:
            return await store.monitors(str(ctx.guild.id))
        return await store.monitors(channel_id=str(ctx.channel.id))

    @monitor.command(name="list", description="Monitors here: last check, last change, last error")
    async def list_(self, ctx: Ctx) -> None:
        lines = [describe(m) for m in await self._here(ctx)]
        text = "\n".join(lines)
        if len(text) > 2000:
            text = text[:1990].rsplit("\n", 1)[0] + "\n…"
        await ctx.send(text or "no monitors here", allowed_mentions=NO_MENTIONS)

    @monitor.command(name="remove", description="Stop watching a page")
    @app_commands.describe(monitor_id="the id shown by `monitor list`")
    async def remove(self, ctx: Ctx, monitor_id: str) -> None:
        mon = next((m for m in await self._here(ctx) if m.id == monitor_id.strip("`")), None)
        if mon is None:
            raise commands.BadArgument(f"there is no monitor `{escape_code(monitor_id[:40])}` here")
        if not _may_remove(ctx, mon):
            raise commands.CheckFailure("only whoever added this monitor, or a server manager, may remove it")
        await self.bot.core.store.remove_monitor(mon.id)
        await ctx.send(f"stopped watching <{mon.url}>", allowed_mentions=NO_MENTIONS)

    @remove.autocomplete("monitor_id")
    async def remove_choices(
        self, interaction: discord.Interaction[SpotrunBot], current: str
    ) -> list[app_commands.Choice[str]]:
        """This server's monitors (in a DM: this channel's), matching what was typed so far."""
        store = self.bot.core.store
        if interaction.guild_id is not None:
            here = await store.monitors(str(interaction.guild_id))
        else:
            here = await store.monitors(channel_id=str(interaction.channel_id))
        typed = current.strip("` ").lower()
        return [
            app_commands.Choice(name=f"{m.id} · {m.url}"[:100], value=m.id)
            for m in here
            if not typed or typed in f"{m.id} {m.url}".lower()
        ][:25]


async def setup(bot: SpotrunBot) -> None:
    await bot.add_cog(Monitors(bot))
