"""Commands for audio and video (audio-video agent): thin — parse, then submit a job."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.exts._submit import ARGS_HELP, FILE_HELP, Ctx, submit
from spotrun.protocol import COMMANDS, Command


class Media(commands.Cog):
    @commands.hybrid_command(name="transcribe", description=COMMANDS[Command.TRANSCRIBE].summary)
    @app_commands.describe(args=ARGS_HELP, file=FILE_HELP)
    async def transcribe(self, ctx: Ctx, file: discord.Attachment | None = None, *, args: str = "") -> None:
        await submit(ctx, Command.TRANSCRIBE, args, file)

    @commands.hybrid_command(name="tts", description=COMMANDS[Command.TTS].summary)
    @app_commands.describe(args=ARGS_HELP)
    async def tts(self, ctx: Ctx, *, args: str = "") -> None:
        await submit(ctx, Command.TTS, args)

    @commands.hybrid_command(name="convert", description=COMMANDS[Command.CONVERT].summary)
    @app_commands.describe(args=ARGS_HELP, file=FILE_HELP)
    async def convert(self, ctx: Ctx, file: discord.Attachment | None = None, *, args: str = "") -> None:
        await submit(ctx, Command.CONVERT, args, file)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Media())
