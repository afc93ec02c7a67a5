"""Commands for image generation and editing (image-gen agent): thin — parse, then submit a job."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.exts._submit import ARGS_HELP, FILE_HELP, Ctx, submit
from spotrun.protocol import COMMANDS, Command


class Image(commands.Cog):
    @commands.hybrid_command(name="generate", description=COMMANDS[Command.GENERATE].summary)
    @app_commands.describe(args=ARGS_HELP)
    async def generate(self, ctx: Ctx, *, args: str = "") -> None:
        await submit(ctx, Command.GENERATE, args)

    @commands.hybrid_command(name="enhance", description=COMMANDS[Command.ENHANCE].summary)
    @app_commands.describe(args=ARGS_HELP, file=FILE_HELP)
    async def enhance(self, ctx: Ctx, file: discord.Attachment | None = None, *, args: str = "") -> None:
        await submit(ctx, Command.ENHANCE, args, file)

    @commands.hybrid_command(name="style-transfer", description=COMMANDS[Command.STYLE_TRANSFER].summary)
    @app_commands.describe(args=ARGS_HELP, file=FILE_HELP)
    async def style_transfer(
        self, ctx: Ctx, file: discord.Attachment | None = None, *, args: str = ""
    ) -> None:
        await submit(ctx, Command.STYLE_TRANSFER, args, file)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Image())
