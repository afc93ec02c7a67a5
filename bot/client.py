"""SpotrunBot: the discord.py bot; its dependencies are passed in, its features are extensions."""

from __future__ import annotations

import asyncio
import hashlib
import json

import discord
import yarl
from discord.ext import commands

from bot.commands.catalog import Catalog
from bot.frontends.discord import CancelButton, RunAgainButton
from bot.runtime.core import Core
from bot.runtime.lifecycle import Lifecycle, backoff_s
from bot.settings import BotSettings
from bot.shards.gateway import ShardGateway
from bot.shards.keeper import ShardKeeper
from bot.shards.zone import find_zone
from spotrun.logs import get_logger

log = get_logger("bot.client")

EXTENSIONS: tuple[str, ...] = (
    "bot.exts.errors",
    "bot.exts.jobs",
    "bot.exts.agents",
    "bot.exts.monitor",
    "bot.exts.cost",
    "bot.exts.status",
    "bot.exts.ask",
    "bot.exts.config",
)


def intents(message_content: bool = True) -> discord.Intents:
    result = discord.Intents.default()
    # Privileged: enable "Message Content Intent" in the developer portal. Prefix commands
    # (`!tts …`) need it; slash commands, mentions of the bot and DMs don't.
    result.message_content = message_content
    return result


class SpotrunBot(commands.AutoShardedBot):
    """AutoSharded: it asks GET /gateway/bot for the gateway URL and shard count, which is what
    makes a REST proxy (or an emulator) at SPOTRUN_DISCORD_API_BASE work end to end. Which shards
    this process connects is decided at run time by its ShardKeeper (leases in the store)."""

    def __init__(self, *, core: Core, settings: BotSettings, extensions: tuple[str, ...] = EXTENSIONS):
        super().__init__(
            # Mentions are plain-language requests (bot.exts.ask), not a second command prefix.
            command_prefix=settings.command_prefix,
            intents=intents(settings.message_content_intent),
            help_command=None,  # bot.exts.jobs has one listing examples
            # The default for everything the bot sends; agent output must never ping anyone.
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.core = core
        self.settings = settings
        self._extensions = extensions
        self.shard_gateway = ShardGateway(self)
        schedule = tuple(settings.login_backoff_s)
        self.keeper = ShardKeeper(
            core.store,
            self.shard_gateway,
            settings,
            jobs_running=lambda: core.engine.running_count,
            backoff=lambda n: backoff_s(n, schedule),
        )
        # Slash commands, buttons and autocomplete: only from shards held here, once across processes.
        self.shard_gateway.gate_interactions(self.keeper.should_handle)
        self._zone_task: asyncio.Task[None] | None = None
        self.lifecycle: Lifecycle | None = None  # set by bot.runtime.main.start_bot; /status shows it
        # The agents' commands, from their manifests (read in setup_hook, before the extensions).
        self.catalog = Catalog(core.registry, core.client, core.store, timeout_s=settings.manifest_timeout_s)

    async def setup_hook(self) -> None:
        await self.catalog.load()
        for ext in self._extensions:
            await self.load_extension(ext)
        self.add_dynamic_items(CancelButton, RunAgainButton)
        await self.core.engine.start()
        if self.settings.gateway:  # a worker leaves the command set to the gateway processes
            await self.sync_commands_if_changed()

    async def close(self) -> None:
        await self.catalog.close()
        await super().close()

    @property
    def gateway_ready(self) -> bool:
        """Every shard this process holds has a READY session (a standby holding none counts)."""
        return self.keeper.gateway_ok and not self.is_closed()

    async def launch_shards(self) -> None:
        """Instead of discord.py's fixed shard list: learn the shard count, then let the keeper
        take the shards this process may hold (SPOTRUN_SHARD_* and the leases in the store)."""
        if self.is_closed():
            return
        recommended, url, limits = await self.http.get_bot_gateway()
        self.shard_count = self.settings.shard_count or recommended
        self._connection.shard_count = self.shard_count
        self._connection.shard_ids = []
        self.shard_gateway.url = yarl.URL(url)
        self._zone_task = asyncio.create_task(self._find_zone(), name="zone")
        await self.keeper.start(self.shard_count, int(limits.get("max_concurrency", 1)))

    async def _find_zone(self) -> None:
        self.keeper.zone = await find_zone(
            self.settings.zone, self.core.session, self.settings.metadata_timeout_s
        )

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py's default sleeps 5 s per shard within this process only; this paces across pods.
        await self.keeper.before_identify(shard_id or 0)

    async def process_commands(self, message: discord.Message) -> None:
        """commands.Bot's, plus: a command from a shard held elsewhere, or already claimed by
        another process (a hand-over overlaps two sessions), is not run here."""
        if message.author.bot:
            return
        ctx = await self.get_context(message)
        if ctx.prefix is not None:
            guild_id = message.guild.id if message.guild is not None else None
            if not await self.keeper.should_handle(guild_id, f"m:{message.id}"):
                return
        await self.invoke(ctx)

    async def on_ready(self) -> None:
        log.info("gateway ready", user=str(self.user), guilds=len(self.guilds), shards=self.shard_count)

    async def on_shard_connect(self, shard_id: int) -> None:
        await self.keeper.on_ready(shard_id)  # READY on this shard

    async def on_shard_resumed(self, shard_id: int) -> None:
        await self.keeper.on_ready(shard_id)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        self.keeper.on_disconnect(shard_id)

    def command_hash(self) -> str:
        payload = sorted((c.to_dict(self.tree) for c in self.tree.get_commands()), key=lambda c: c["name"])
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    async def sync_commands_if_changed(self) -> None:
        """Guild sync is instant, global takes up to an hour, and creates are capped per day:
        sync only when the command set differs from what was last synced to that target."""
        digest = self.command_hash()
        targets: list[int | None] = list(self.settings.sync_guild_ids) or [None]
        for guild_id in targets:
            key = f"commands_hash:{guild_id or 'global'}"
            if await self.core.store.get_meta(key) == digest:
                continue
            if guild_id is None:
                synced = await self.tree.sync()
            else:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            await self.core.store.set_meta(key, digest)
            log.info("slash commands synced", target=guild_id or "global", count=len(synced))
