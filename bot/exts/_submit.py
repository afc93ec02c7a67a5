"""The one path from a Discord command (prefix or slash) to a submitted job."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.commands.parse import UsageError, guess_content_type, parse
from bot.frontends.discord import NO_MENTIONS, token_expiry
from bot.jobs.engine import Submission
from bot.ledger import Ledger
from bot.messages import budget_exhausted, budget_warning
from spotrun.protocol import COMMANDS, Command, InputFile

if TYPE_CHECKING:
    from bot.client import SpotrunBot

Ctx = commands.Context["SpotrunBot"]

# Marks an interaction whose deferred reply is public (see bot.exts.errors._withdraw_public_reply).
PUBLIC_DEFER = "spotrun.public_defer"

ARGS_HELP = "arguments as in the prefix command, e.g. key=value options"
FILE_HELP = "an input file (image, CSV, audio/video) when the command needs one"


async def read_attachments(
    ctx: Ctx, command: Command, file: discord.Attachment | None, max_bytes: int
) -> list[InputFile]:
    spec = COMMANDS[command]
    attachments = [file] if ctx.interaction is not None else list(ctx.message.attachments)
    files = []
    for att in attachments:
        if att is None:
            continue
        if att.size > max_bytes:
            # Refuse before downloading: the size is in the attachment's metadata.
            raise UsageError(
                spec,
                f"{att.filename} is {att.size / 1048576:.1f} MiB; the limit is {max_bytes / 1048576:.0f} MiB",
                ctx.bot.settings.command_prefix,
            )
        data = await att.read()
        files.append(
            InputFile(
                name=att.filename, content_type=guess_content_type(att.filename, att.content_type), data=data
            )
        )
    return files


class BudgetExhausted(commands.CheckFailure):
    """A monthly budget is used up; the message says whose and when it resets."""


async def check_budget(ctx: Ctx) -> None:
    """Refuse at 100 % of a monthly budget before anything is downloaded, stored or dispatched;
    warn the channel once a month when a budget passes SPOTRUN_BUDGET_WARN_RATIO."""
    if ctx.guild is None:
        return  # budgets are per server; DMs have none
    bot: SpotrunBot = ctx.bot
    ledger = Ledger(bot.core.store, bot.core.engine.runner.prices)
    admission = await ledger.admit(str(ctx.guild.id), str(ctx.author.id), bot.settings.budget_warn_ratio)
    if admission.exhausted is not None:
        budget = admission.exhausted.budget
        raise BudgetExhausted(
            budget_exhausted(budget.user_id is not None, budget.amount_usd, admission.resets_at)
        )
    if admission.warn is not None:
        status = admission.warn
        text = budget_warning(status.budget.user_id is not None, status.ratio, status.budget.amount_usd)
        await ctx.channel.send(text, allowed_mentions=NO_MENTIONS)


async def submit(ctx: Ctx, command: Command, args: str, file: discord.Attachment | None = None) -> None:
    bot: SpotrunBot = ctx.bot
    if ctx.interaction is not None:
        # Acknowledge within Discord's 3 s before anything slow (downloads, the store).
        await ctx.defer()
        ctx.interaction.extras[PUBLIC_DEFER] = True
    await check_budget(ctx)
    settings = bot.settings
    files = await read_attachments(ctx, command, file, settings.max_input_bytes)
    parsed = parse(
        command.value, args, files, max_file_bytes=settings.max_input_bytes, prefix=settings.command_prefix
    )
    interaction = ctx.interaction
    await bot.core.engine.submit(
        Submission(
            command=parsed.command.value,
            args=parsed.args.model_dump(mode="json"),
            files=parsed.files,
            user_id=str(ctx.author.id),
            frontend="discord",
            guild_id=str(ctx.guild.id) if ctx.guild else None,
            channel_id=str(ctx.channel.id),
            origin_message_id=None if interaction else str(ctx.message.id),
            interaction_id=str(interaction.id) if interaction else None,
            interaction_token=interaction.token if interaction else None,
            token_expires_at=token_expiry(settings.interaction_ttl_s) if interaction else None,
        )
    )
