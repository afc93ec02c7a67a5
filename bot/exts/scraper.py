"""Commands for reading web pages (web-scraper agent): thin — parse, then submit a job."""

from __future__ import annotations

from discord import app_commands
from discord.ext import commands

from bot.exts._submit import ARGS_HELP, Ctx, submit
from spotrun.protocol import COMMANDS, Command


class Scraper(commands.Cog):
    @commands.hybrid_command(name="scrape", description=COMMANDS[Command.SCRAPE].summary)
    @app_commands.describe(args=ARGS_HELP)
    async def scrape(self, ctx: Ctx, *, args: str = "") -> None:
        await submit(ctx, Command.SCRAPE, args)

    @commands.hybrid_command(name="extract", description=COMMANDS[Command.EXTRACT].summary)
    @app_commands.describe(args=ARGS_HELP)
    async def extract(self, ctx: Ctx, *, args: str = "") -> None:
        await submit(ctx, Command.EXTRACT, args)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Scraper())
