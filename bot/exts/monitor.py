"""Page monitors: scrape on a schedule, post when the page's fingerprint changes; state in the store."""

from __future__ import annotations

import asyncio
import difflib
import re
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from agent_client import AgentError
from bot.exts._submit import Ctx
from bot.frontends.discord import NO_MENTIONS
from bot.jobs.store import Monitor
from bot.messages import describe_agent_error
from bot.render import clip
from spotrun.logs import get_logger
from spotrun.protocol import AgentRequest, CallerContext, Command, ScrapeArgs

if TYPE_CHECKING:
    from bot.client import SpotrunBot

log = get_logger("bot.monitor")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def summarize_change(old_title: str | None, new_title: str | None, old_text: str, new_text: str) -> str:
    """A few lines a human reads at a glance: title change, size change, first changed sentence."""
    lines = []
    if (old_title or "") != (new_title or ""):
        lines.append(f"title: “{clip(old_title or '', 120)}” → “{clip(new_title or '', 120)}”")
    old_words, new_words = len(old_text.split()), len(new_text.split())
    if old_words != new_words:
        lines.append(f"words: {old_words} → {new_words} ({new_words - old_words:+d})")
    old_s, new_s = _SENTENCE.split(old_text.strip()), _SENTENCE.split(new_text.strip())
    for op, _, _, j1, j2 in difflib.SequenceMatcher(a=old_s, b=new_s, autojunk=False).get_opcodes():
        if op in ("replace", "insert") and j1 < j2:
            lines.append(f"first change: “{clip(new_s[j1], 300)}”")
            break
        if op == "delete":
            lines.append("some text was removed")
            break
    return "\n".join(lines) or "the page changed (markup or metadata only)"


class Monitors(commands.Cog):
    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot
        self._loop: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        # The schedule lives in the store, so a restarted bot simply picks up what is due.
        self._loop = asyncio.create_task(self._run(), name="monitors")

    async def cog_unload(self) -> None:
        if self._loop is not None:
            self._loop.cancel()

    @commands.hybrid_group(
        name="monitor",
        fallback="add",
        invoke_without_command=True,
        description="Watch a page and post here when it changes",
    )
    @app_commands.describe(url="the page to watch", interval="minutes between checks")
    async def monitor(self, ctx: Ctx, url: str, interval: float | None = None) -> None:
        settings = self.bot.settings
        ScrapeArgs(url=url)  # a bad URL fails here, with the usage line, before anything is stored
        interval_s = interval * 60 if interval is not None else settings.monitor_interval_default_s
        if interval_s < settings.monitor_interval_min_s:
            raise commands.BadArgument(
                f"the shortest interval is {settings.monitor_interval_min_s / 60:g} minutes"
            )
        guild_id = str(ctx.guild.id) if ctx.guild else None
        existing = await self.bot.core.store.monitors(guild_id)
        if guild_id is not None and len(existing) >= settings.monitors_per_guild:
            raise commands.CheckFailure(
                f"this server already has {len(existing)} monitors (the limit); remove one first"
            )
        mon = await self.bot.core.store.add_monitor(
            url=url,
            interval_s=interval_s,
            user_id=str(ctx.author.id),
            guild_id=guild_id,
            channel_id=str(ctx.channel.id),
        )
        await ctx.send(
            f"watching <{url}> every {interval_s / 60:g} min as `{mon.id}`", allowed_mentions=NO_MENTIONS
        )

    @monitor.command(name="list", description="Monitors in this server")
    async def list_(self, ctx: Ctx) -> None:
        mons = await self.bot.core.store.monitors(str(ctx.guild.id) if ctx.guild else None)
        lines = [
            f"`{m.id}` <{m.url}> every {m.interval_s / 60:g} min"
            + (f" — last error: {m.last_error}" if m.last_error else "")
            for m in mons
        ]
        await ctx.send("\n".join(lines)[:2000] or "no monitors here", allowed_mentions=NO_MENTIONS)

    @monitor.command(name="remove", description="Stop watching a page")
    async def remove(self, ctx: Ctx, monitor_id: str) -> None:
        mon = await self.bot.core.store.get_monitor(monitor_id)
        if mon is None or mon.guild_id != (str(ctx.guild.id) if ctx.guild else None):
            raise commands.BadArgument(f"there is no monitor `{monitor_id}` here")
        await self.bot.core.store.remove_monitor(monitor_id)
        await ctx.send(f"stopped watching <{mon.url}>", allowed_mentions=NO_MENTIONS)

    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            for mon in await self.bot.core.store.due_monitors(time.time()):
                await self.check(mon)
            await asyncio.sleep(self.bot.settings.monitor_tick_s)

    async def check(self, mon: Monitor) -> None:
        store = self.bot.core.store
        now = time.time()
        request = AgentRequest(
            job_id=f"{mon.id}-{int(now)}",
            command=Command.SCRAPE,
            args=ScrapeArgs(url=mon.url),
            context=CallerContext(user_id=mon.user_id, guild_id=mon.guild_id, channel_id=mon.channel_id),
        )
        try:
            result = await self.bot.core.client.call(request)
        except AgentError as exc:
            await store.update_monitor(
                mon.id,
                next_check_at=now + mon.interval_s,
                last_checked_at=now,
                failures=mon.failures + 1,
                last_error=describe_agent_error(exc),
            )
            return
        fingerprint = str(result.data.get("fingerprint") or hash(result.text))
        if mon.fingerprint is not None and fingerprint != mon.fingerprint:
            summary = summarize_change(mon.title, result.title, mon.text or "", result.text)
            embed = discord.Embed(
                title=clip(f"changed: {result.title or mon.url}", 256),
                url=mon.url,
                description=clip(summary, 4096),
            )
            embed.set_footer(text=f"monitor {mon.id}")
            try:
                await self.bot.get_partial_messageable(int(mon.channel_id)).send(
                    embed=embed, allowed_mentions=NO_MENTIONS, nonce=f"m{mon.id}{int(now)}"[:25]
                )
            except discord.HTTPException as exc:
                log.warning("monitor post failed", monitor=mon.id, error=str(exc))
        await store.update_monitor(
            mon.id,
            next_check_at=now + mon.interval_s,
            last_checked_at=now,
            fingerprint=fingerprint,
            title=result.title,
            text=result.text,
            failures=0,
            last_error=None,
        )


async def setup(bot: SpotrunBot) -> None:
    await bot.add_cog(Monitors(bot))
