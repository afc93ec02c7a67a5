"""The ONE error handler: every command error becomes a short, specific message for the user."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import ValidationError

from agent_client import AgentError
from bot.commands.parse import UsageError, describe_validation, usage_hint
from bot.exts._submit import Ctx, StoreUnavailable
from bot.frontends.answers import PUBLIC_DEFER
from bot.frontends.discord import NO_MENTIONS
from bot.frontends.messages import describe_agent_error
from bot.jobs.queue import UserLimitReached
from spotrun.logs import get_logger
from spotrun.protocol import CommandSpec

if TYPE_CHECKING:
    from bot.client import SpotrunBot

log = get_logger("bot.errors")


def _unwrap(error: BaseException) -> BaseException:
    """Hybrid and app-command wrappers hide the real error one or two levels down."""
    while (
        isinstance(
            error, commands.HybridCommandError | commands.CommandInvokeError | app_commands.CommandInvokeError
        )
        and getattr(error, "original", None) is not None
    ):
        error = error.original  # type: ignore[union-attr]
    return error


def _slash(ctx: Ctx) -> bool:
    return ctx.interaction is not None


def _usage(ctx: Ctx) -> str:
    """The usage line in the form the user typed: `/tts args:<text>` or `!tts <text>`."""
    if ctx.command is None:
        return ""
    prefix = None if _slash(ctx) else ctx.bot.settings.command_prefix
    spec = _job_spec(ctx)
    if spec is None:
        shown = f"{prefix or '/'}{ctx.command.qualified_name}"
        return f"\nusage: `{' '.join(filter(None, (shown, ctx.command.signature)))}`"
    return usage_hint(spec, prefix)


def describe(ctx: Ctx, error: BaseException) -> str | None:
    """The user's message for `error`, or None to stay quiet (an unknown `!word` is chat)."""
    if isinstance(error, commands.CommandNotFound):
        return None
    if isinstance(error, UsageError):
        return error.for_slash() if _slash(ctx) else str(error)
    if isinstance(error, UserLimitReached | StoreUnavailable):
        return str(error)
    if isinstance(error, AgentError):
        return describe_agent_error(error)
    if isinstance(error, ValidationError):
        return describe_validation(error, _job_spec(ctx)) + _usage(ctx)
    if isinstance(error, commands.MissingRequiredArgument):
        return f"`{error.param.name}` is required." + _usage(ctx)
    if isinstance(error, commands.TooManyArguments):
        return "too many arguments" + _usage(ctx)
    if isinstance(error, commands.BadArgument | commands.BadUnionArgument | app_commands.TransformerError):
        return f"{error}" + _usage(ctx)
    if isinstance(error, commands.CommandOnCooldown):
        return f"slow down — try again in {error.retry_after:.0f} s"
    if isinstance(error, commands.MaxConcurrencyReached):
        return "this command is already running for you; wait for it to finish"
    if isinstance(error, commands.NoPrivateMessage):
        return "this command only works in a server"
    if isinstance(error, commands.MissingPermissions | commands.BotMissingPermissions):
        return str(error)
    if isinstance(error, commands.CheckFailure):
        return str(error) or "you can't use this command here"
    if isinstance(error, commands.UserInputError):
        return str(error) + _usage(ctx)
    if isinstance(error, discord.Forbidden):
        return "Discord refused me: check that I may send messages, embeds and files in this channel"
    if isinstance(error, discord.HTTPException):
        return "Discord had a problem with that request; try again in a moment"
    return None


def _job_spec(ctx: Ctx) -> CommandSpec | None:
    name = ctx.command.qualified_name if ctx.command else ""
    return ctx.bot.catalog.spec(name)


class ErrorHandler(commands.Cog):
    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_command_error(self, ctx: Ctx, error: commands.CommandError) -> None:
        await report_error(ctx, error)


async def report_error(ctx: Ctx, error: BaseException) -> None:
    """Tell the user what went wrong with their command: prefix and hybrid commands come here
    through on_command_error, the slash commands built from manifests call it directly."""
    original = _unwrap(error)
    text = describe(ctx, original)
    if text is None:
        if isinstance(original, commands.CommandNotFound):
            log.debug("unknown command", content=ctx.message.content[:100])
            return
        # A bug: the user gets an id to quote, the log gets the traceback. Never silence.
        ref = secrets.token_hex(4)
        log.error(
            "command failed",
            ref=ref,
            command=ctx.command and ctx.command.qualified_name,
            exc_info=original,
        )
        text = f"something went wrong on our side (ref `{ref}`); an admin can find it in the logs"
    try:
        if ctx.interaction is not None:
            await _withdraw_public_reply(ctx.interaction)
            await ctx.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await ctx.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        log.warning("could not tell the user about an error", error=str(exc), text=text)


async def _withdraw_public_reply(interaction: discord.Interaction[SpotrunBot]) -> None:
    """A job command defers publicly (its status message is for the channel); when it fails before
    becoming a job, remove the public "thinking…" so the error can follow privately — on Discord
    the first follow-up after a defer would otherwise replace it, public."""
    if not interaction.extras.pop(PUBLIC_DEFER, False):
        return
    try:
        await interaction.delete_original_response()
    except discord.HTTPException as exc:
        log.warning("could not withdraw the public reply", error=str(exc))


async def setup(bot: SpotrunBot) -> None:
    await bot.add_cog(ErrorHandler(bot))
