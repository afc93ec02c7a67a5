"""SpotrunBot: the discord.py bot; its dependencies are passed in, its features are extensions."""

from __future__ import annotations

import hashlib
import json

import discord
from discord.ext import commands

from bot.commands.catalog import Catalog
from bot.core import Core
from bot.frontends.discord import CancelButton, RunAgainButton
from bot.lifecycle import Lifecycle
from bot.settings import BotSettings
from spotrun.logs import get_logger

log = get_logger("bot.client")

EXTENSIONS: tuple[str, ...] = (
    "bot.exts.errors",
    "bot.exts.jobs",
    "bot.exts.agents",
    "bot.exts.monitor",
    "bot.exts.cost",
    "bot.exts.status",
    "bot.exts.config",
)


def intents() -> discord.Intents:
    result = discord.Intents.default()
    # Privileged: enable "Message Content Intent" in the developer portal. Prefix commands
    # (`!tts …`) need it; slash commands don't.
    result.message_content = True
    return result


class SpotrunBot(commands.AutoShardedBot):
    """AutoSharded: it asks GET /gateway/bot for the gateway URL and shard count, which is what
    makes a REST proxy (or an emulator) at SPOTRUN_DISCORD_API_BASE work end to end."""

    def __init__(self, *, core: Core, settings: BotSettings, extensions: tuple[str, ...] = EXTENSIONS):
        super().__init__(
            command_prefix=commands.when_mentioned_or(settings.command_prefix),
            intents=intents(),
            help_command=None,  # bot.exts.jobs has one listing examples
            # The default for everything the bot sends; agent output must never ping anyone.
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.core = core
        self.settings = settings
        self._extensions = extensions
        self.gateway_ready = False
        self.lifecycle: Lifecycle | None = None  # set by bot.main.start_bot; /status shows it
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

    async def on_ready(self) -> None:
        self.gateway_ready = True
        log.info("gateway ready", user=str(self.user), guilds=len(self.guilds), shards=self.shard_count)

    async def on_disconnect(self) -> None:
        self.gateway_ready = False

    async def on_resumed(self) -> None:
        self.gateway_ready = True

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
