"""`/config`: this server's settings, changed by its admins and kept in the job store (so every
bot process sees them at once). One setting today: long results in a thread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from discord.ext import commands

from bot.exts._reply import reply_private
from bot.exts._submit import Ctx
from bot.exts.admin import admin_only_slash, require_admin
from bot.frontends.threads import OFF, ON, RESULT_THREADS

if TYPE_CHECKING:
    from bot.client import SpotrunBot

# What each setting does, said when it is shown or changed.
MEANING = {
    RESULT_THREADS: "a result that needs more than one message posts the rest in a thread on its message",
}


class Config(commands.Cog):
    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot

    async def cog_check(self, ctx: Ctx) -> bool:  # type: ignore[override]
        return require_admin(ctx)

    @commands.hybrid_command(
        name="config", description="This server's settings: result-threads on|off (admins)"
    )
    @commands.guild_only()
    @admin_only_slash
    async def config(
        self,
        ctx: Ctx,
        setting: Literal["result-threads"] = "result-threads",
        value: Literal["on", "off"] | None = None,
    ) -> None:
        assert ctx.guild is not None
        store, guild_id = self.bot.core.store, str(ctx.guild.id)
        if value is not None:
            await store.set_guild_setting(guild_id, setting, value, by=str(ctx.author.id))
            current, verb = value, "is now"
        else:
            current, verb = (await store.guild_setting(guild_id, setting)) or OFF, "is"
        other = ON if current == OFF else OFF
        await reply_private(
            ctx,
            f"`{setting}` {verb} **{current}** — when on, {MEANING[setting]}\n"
            f"-# `/config {setting} {other}` turns it {other}",
        )


async def setup(bot: SpotrunBot) -> None:
    await bot.add_cog(Config(bot))
