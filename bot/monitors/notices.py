"""What a monitor posts: a change (pinging nobody); to its owner, once on failing and once on recovery."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.frontends.base import DeliveryError
from bot.frontends.discord import NO_MENTIONS
from bot.frontends.render import clip, neutralize
from bot.jobs.store import Job, Monitor
from bot.monitors.change import short_diff, summarize_change
from bot.monitors.interval import format_seconds
from spotrun.logs import get_logger

if TYPE_CHECKING:
    from bot.client import SpotrunBot

log = get_logger("bot.monitors")


def _owner_only(mon: Monitor) -> discord.AllowedMentions:
    # The owner asked to be told; nobody else is pinged (page text never pings anyone).
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(int(mon.user_id))], replied_user=False
    )


def change_embed(mon: Monitor, job: Job, title: str | None, old_text: str, new_text: str) -> discord.Embed:
    # Page text is untrusted: shown as text (no disguised links, headings or fence breakouts).
    summary, _ = neutralize(summarize_change(mon.title, title, old_text, new_text))
    diff = short_diff(old_text, new_text)
    description = summary + (f"\n{diff}" if diff else "")
    embed = discord.Embed(
        title=clip(f"changed: {neutralize(title or mon.url)[0]}", 256),
        url=mon.url,
        description=description if len(description) <= 4096 else clip(summary, 4096),
    )
    cost = f" · ≈ ${job.total_usd:.6f}" if job.total_usd else ""  # each check is billed like a command
    embed.set_footer(text=f"monitor {mon.id} · check job {job.id}{cost}")
    return embed


class Notices:
    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot

    def _channel(self, mon: Monitor) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(int(mon.channel_id))

    async def changed(self, mon: Monitor, job: Job, title: str | None, old_text: str, new_text: str) -> str:
        """Post the change; raises DeliveryError so the check stays unposted and is retried."""
        try:
            msg = await self._channel(mon).send(
                embed=change_embed(mon, job, title, old_text, new_text),
                allowed_mentions=NO_MENTIONS,
                nonce=f"m{job.id}"[:25],  # a replay after a restart returns the same message
            )
        except discord.HTTPException as exc:
            raise DeliveryError(f"change notice of monitor {mon.id}: {exc}") from exc
        return str(msg.id)

    async def failing(self, mon: Monitor, error: str, retry_in_s: float) -> None:
        await self._tell_owner(
            mon,
            f"⚠️ <@{mon.user_id}> monitor `{mon.id}` (<{mon.url}>) is failing: {error}\n"
            f"I'll keep checking, less often (next try in {format_seconds(round(retry_in_s))}), "
            "and tell you here when it recovers.",
        )

    async def recovered(self, mon: Monitor) -> None:
        await self._tell_owner(
            mon,
            f"✅ <@{mon.user_id}> monitor `{mon.id}` (<{mon.url}>) works again "
            f"after {mon.failures} failed check{'s' if mon.failures != 1 else ''}.",
        )

    async def budget_warning(self, mon: Monitor, text: str) -> None:
        try:
            await self._channel(mon).send(text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("monitor budget warning not posted", monitor=mon.id, error=str(exc))

    async def _tell_owner(self, mon: Monitor, text: str) -> None:
        try:
            await self._channel(mon).send(clip(text, 2000), allowed_mentions=_owner_only(mon))
        except discord.HTTPException as exc:
            # Best effort: the state (failures, last error) is in the store and `monitor list`.
            log.warning("monitor notice not posted", monitor=mon.id, error=str(exc))
