"""/status (admins): the bot process, the job pipeline and every agent at a glance, in one embed."""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord.ext import commands

import spotrun
from agent_client import AgentConfig
from bot.exts._reply import reply_private
from bot.exts._submit import Ctx
from bot.exts.admin import admin_only_slash, require_admin
from bot.jobs.database import DatabaseErrors
from bot.jobs.store import JobState

if TYPE_CHECKING:
    from bot.client import SpotrunBot

# Discord's embed limits: field values 1024, 25 fields, 6000 chars in all.
_FIELD_MAX, _FIELDS_MAX, _EMBED_MAX = 1024, 25, 6000
_ENGINE_DETAIL_MAX = 420  # one engine's "how to set it up"; four agents must fit the 6000 total
_HEALTH_TIMEOUT_S = 2.0  # the whole command must answer well within the 15-min token anyway


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.0f} ms"


class Status(commands.Cog):
    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot
        self._spot: str | None = None  # the node does not change while the process lives

    async def cog_check(self, ctx: Ctx) -> bool:  # type: ignore[override]
        return require_admin(ctx)

    @commands.hybrid_command(name="status", description="Bot, jobs and agents at a glance (admins)")
    @admin_only_slash
    async def status(self, ctx: Ctx) -> None:
        if ctx.interaction is not None:
            await ctx.defer(ephemeral=True)  # the health probes may take longer than Discord's 3 s
        embed = await self.embed()
        await reply_private(ctx, embed=embed)

    async def embed(self) -> discord.Embed:
        core, settings = self.bot.core, self.bot.settings
        agents = list(core.registry)
        health, spot, jobs = await asyncio.gather(
            asyncio.gather(*(core.client.health(a.name, timeout_s=_HEALTH_TIMEOUT_S) for a in agents)),
            self.on_spot(),
            self.job_counts(),
        )
        embed = discord.Embed(title=f"spotrun {spotrun.__version__}", color=0x2B90D9)
        embed.add_field(name="Bot", value=self.bot_lines(spot)[:_FIELD_MAX], inline=False)
        embed.add_field(
            name="Jobs",
            value=f"queued {jobs['queued']} · running {jobs['running']} · failed in the last hour "
            f"{jobs['failed_1h']}",
            inline=False,
        )
        embed.add_field(name="Processes", value=(await self.process_lines())[:_FIELD_MAX], inline=False)
        footer = f"pod {settings.pod_name or os.uname().nodename}"
        shown = list(zip(agents, health, strict=True))[: _FIELDS_MAX - 3]
        # The engines' set-up hints make agent fields long: share what the 6000 total leaves.
        left = _EMBED_MAX - len(embed) - len(footer) - sum(len(a.name) for a, _ in shown)
        share = max(200, min(_FIELD_MAX, left // max(len(shown), 1)))
        for agent, (report, latency, error) in shown:
            embed.add_field(
                name=agent.name, value=self.agent_lines(agent, report, latency, error)[:share], inline=False
            )
        embed.set_footer(text=footer)
        return embed

    def bot_lines(self, spot: str) -> str:
        bot, settings, life = self.bot, self.bot.settings, self.bot.lifecycle
        now = time.time()
        lines = [
            f"up {_duration(now - life.started_at)}" if life and life.started_at else "up –",
            f"gateway {'connected' if bot.gateway_ready else 'disconnected'}, latency "
            f"{_ms(bot.latency) if bot.latency == bot.latency and bot.latency != float('inf') else '–'}, "
            f"shards {bot.shard_count or 1}",
            f"pod {settings.pod_name or '–'} on node {settings.node_name or '–'} · Spot: {spot}",
        ]
        if life is not None:
            if life.previous_cause is None and life.path is None:
                # The record lives beside a SQLite store; a PostgreSQL process keeps no local file.
                lines.append("no record of earlier starts (kept beside a SQLite store only)")
            elif life.previous_cause is None:
                lines.append("first start on this volume")
            else:
                since = f"{_duration(now - life.started_at)} ago" if life.started_at else "–"
                lines.append(f"last restart {since}; the previous process ended by: {life.previous_cause}")
            if life.backoff_s:
                lines.append(
                    f"waited {life.backoff_s:.0f} s before login ({life.recent_starts} recent starts)"
                )
        return "\n".join(lines)

    async def process_lines(self) -> str:
        """One line per live bot process (the store's process table): pod, zone, active with its
        shards or standby, jobs running here, and how long it has held its shards / last beat."""
        store, keeper = self.bot.core.store, self.bot.keeper
        now = time.time()
        try:
            processes = await store.processes(seen_within_s=max(3 * self.bot.settings.shard_tick_s, 5.0))
            leases = await store.shard_leases()
            identifies = sum((await store.identifies_since(now - 86_400)).values())
        except DatabaseErrors as exc:
            return f"job store unreachable: {type(exc).__name__}"
        lines = []
        for p in processes:
            held = [lease for lease in leases.values() if lease.owner == p.owner]
            if not p.gateway:
                role = "worker (no gateway)"
            elif held:
                ids = sorted(lease.shard_id for lease in held)
                waiting = [s for s in ids if s not in p.shards]  # leased, session not READY yet
                role = f"active, shards {','.join(map(str, ids))}" + (
                    f" (connecting {','.join(map(str, waiting))})" if waiting else ""
                )
            else:
                role = "standby"
            lease_age = (
                f"lease held {_duration(now - min(lease.taken_at for lease in held))}" if held else "no lease"
            )
            me = " (this one)" if p.owner == store.owner else ""
            lines.append(
                f"{p.pod}{me} · {p.zone} · {role} · {p.jobs_running} jobs running · {lease_age} · "
                f"beat {now - p.seen_at:.1f} s ago"
            )
        held_total = sum(1 for lease in leases.values() if lease.expires_at >= now)
        lines.append(
            f"shards held {held_total}/{keeper.count or self.bot.shard_count or 1} · IDENTIFYs in 24 h: "
            f"{identifies}/1000"
        )
        return "\n".join(lines)

    def agent_lines(self, agent: AgentConfig, report: object, latency: float, error: str) -> str:
        client = self.bot.core.client
        stats = client.stats(agent.name)
        status = getattr(report, "status", None)
        probe = f"health {status} ({_ms(latency)})" if status else f"health DOWN: {error or 'no answer'}"
        hour = (
            f"last hour: {stats.calls} calls, p50 {_ms(stats.p50_s)}, p95 {_ms(stats.p95_s)}, "
            f"errors {stats.error_rate:.0%}"
        )
        # What is not set up, as the agent itself words it (the setting to change): users are
        # only told "isn't set up" and pointed here.
        engines = getattr(report, "engines", None) or {}
        missing = [
            f"✗ {name}: {_short(engine.detail, _ENGINE_DETAIL_MAX)}"
            for name, engine in engines.items()
            if not engine.available
        ]
        state = self.bot.catalog.agents.get(agent.name)
        return "\n".join(
            [
                probe,
                *([state.status_line()] if state is not None else []),
                f"breaker {client.breaker_state(agent.name).value} · in flight "
                f"{client.in_flight(agent.name)}/{agent.max_concurrency}",
                hour,
                *missing,
            ]
        )[:_FIELD_MAX]

    async def job_counts(self) -> dict[str, int]:
        store = self.bot.core.store
        since = time.time() - 3600
        queued = await store.jobs_in(JobState.QUEUED)
        running = await store.jobs_in(JobState.RUNNING)
        failed = [j for j in await store.jobs_in(JobState.FAILED) if (j.finished_at or 0) >= since]
        return {"queued": len(queued), "running": len(running), "failed_1h": len(failed)}

    async def on_spot(self) -> str:
        """The chart says (SPOTRUN_NODE_SPOT); else the metadata server, asked once, briefly."""
        settings = self.bot.settings
        if settings.node_spot is not None:
            return "yes" if settings.node_spot else "no"
        if self._spot is None:
            host = (
                os.environ.get("GCE_METADATA_IP") or os.environ.get("GCE_METADATA_HOST") or "169.254.169.254"
            )
            url = f"http://{host}/computeMetadata/v1/instance/scheduling/preemptible"
            try:
                async with self.bot.core.session.get(
                    url,
                    headers={"Metadata-Flavor": "Google"},
                    timeout=aiohttp.ClientTimeout(total=settings.metadata_timeout_s),
                ) as resp:
                    text = (await resp.text()).strip().upper() if resp.status == 200 else ""
            except (aiohttp.ClientError, TimeoutError):
                text = ""
            self._spot = {"TRUE": "yes (metadata)", "FALSE": "no (metadata)"}.get(text, "unknown")
        return self._spot


async def setup(bot: SpotrunBot) -> None:
    await bot.add_cog(Status(bot))
