"""Commands for data files (data-analysis agent): thin — parse, then submit a job."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.exts._submit import ARGS_HELP, FILE_HELP, Ctx, submit
from spotrun.protocol import COMMANDS, Command


class Analysis(commands.Cog):
    @commands.hybrid_command(name="analyze", description=COMMANDS[Command.ANALYZE].summary)
    @app_commands.describe(args=ARGS_HELP, file=FILE_HELP)
    async def analyze(self, ctx: Ctx, file: discord.Attachment | None = None, *, args: str = "") -> None:
        await submit(ctx, Command.ANALYZE, args, file)

    @commands.hybrid_command(name="chart", description=COMMANDS[Command.CHART].summary)
    @app_commands.describe(args=ARGS_HELP, file=FILE_HELP)
    async def chart(self, ctx: Ctx, file: discord.Attachment | None = None, *, args: str = "") -> None:
        await submit(ctx, Command.CHART, args, file)

    @commands.hybrid_command(name="predict", description=COMMANDS[Command.PREDICT].summary)
    @app_commands.describe(args=ARGS_HELP, file=FILE_HELP)
    async def predict(self, ctx: Ctx, file: discord.Attachment | None = None, *, args: str = "") -> None:
        await submit(ctx, Command.PREDICT, args, file)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Analysis())
