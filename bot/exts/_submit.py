"""The one path from a Discord command (prefix or slash) to a submitted job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.billing.ledger import Ledger
from bot.commands.parse import ParsedCommand, UsageError, guess_content_type, parse, parse_options
from bot.frontends.discord import NO_MENTIONS, DiscordFrontend, token_expiry
from bot.frontends.messages import budget_exhausted, budget_warning
from bot.jobs.database import DatabaseErrors
from bot.jobs.engine import Submission
from spotrun.protocol import CommandSpec, InputFile

if TYPE_CHECKING:
    from bot.client import SpotrunBot

Ctx = commands.Context["SpotrunBot"]


async def read_attachments(
    ctx: Ctx, spec: CommandSpec, attachments: list[discord.Attachment], max_bytes: int
) -> list[InputFile]:
    files = []
    if spec.takes_files and len(attachments) > spec.takes_files:
        many = "one file" if spec.takes_files == 1 else f"{spec.takes_files} files"
        raise _usage(ctx, spec, f"`{spec.command}` reads {many}; you attached {len(attachments)}")
    for att in attachments:
        if att.size > max_bytes:
            # Refuse before downloading: the size is in the attachment's metadata.
            raise _usage(
                ctx,
                spec,
                f"{att.filename} is {att.size / 1048576:.1f} MiB; the limit is {max_bytes / 1048576:.0f} MiB",
            )
        data = await att.read()
        files.append(
            InputFile(
                name=att.filename, content_type=guess_content_type(att.filename, att.content_type), data=data
            )
        )
    return files


def _usage(ctx: Ctx, spec: CommandSpec, problem: str) -> UsageError:
    error = UsageError(spec, problem, ctx.bot.settings.command_prefix)
    error.slash = ctx.interaction is not None
    return error


def max_upload(ctx: Ctx, spec: CommandSpec) -> int:
    """The smaller of the bot's limit and what the agent's manifest says it takes."""
    limit = ctx.bot.settings.max_input_bytes
    return min(limit, spec.limits.max_upload_bytes) if spec.limits else limit


class StoreUnavailable(commands.CommandError):
    """The job store could not take the command (a database restart or failover): nothing was
    stored, and the user is told so rather than "something went wrong"."""

    def __init__(self) -> None:
        super().__init__(
            "the bot can't reach its job store right now, so this command was not taken; "
            "try again in a minute"
        )


class BudgetExhausted(commands.CheckFailure):
    """A monthly budget is used up; the message says whose and when it resets."""


async def check_budget(ctx: Ctx) -> None:
    """Refuse at 100 % of a monthly budget before anything is downloaded, stored or dispatched;
    warn the channel once a month when a budget passes SPOTRUN_BUDGET_WARN_RATIO."""
    await admit_budget(ctx.bot, ctx.guild.id if ctx.guild else None, ctx.author.id, ctx.channel)


async def admit_budget(
    bot: SpotrunBot, guild_id: int | None, user_id: int, channel: discord.abc.Messageable
) -> None:
    """check_budget without a command context (a button, a routed request)."""
    if guild_id is None:
        return  # budgets are per server; DMs have none
    ledger = Ledger(bot.core.store, bot.core.engine.runner.prices)
    admission = await ledger.admit(str(guild_id), str(user_id), bot.settings.budget_warn_ratio)
    if admission.exhausted is not None:
        budget = admission.exhausted.budget
        raise BudgetExhausted(
            budget_exhausted(budget.user_id is not None, budget.amount_usd, admission.resets_at)
        )
    if admission.warn is not None:
        status = admission.warn
        text = budget_warning(status.budget.user_id is not None, status.ratio, status.budget.amount_usd)
        await channel.send(text, allowed_mentions=NO_MENTIONS)


async def submit(
    ctx: Ctx,
    spec: CommandSpec,
    *,
    text: str | None = None,
    options: Mapping[str, Any] | None = None,
    attachments: list[discord.Attachment] | None = None,
) -> None:
    """A job command, from the prefix form (`text`, the message's attachments) or the slash form
    (typed `options` and attachment options): check, parse against the manifest's model, submit."""
    bot: SpotrunBot = ctx.bot
    if ctx.interaction is None:
        await _submit(ctx, spec, text=text, options=options, attachments=attachments)
        return
    # The job's first status line answers the interaction (one REST call, not a defer and an
    # edit); a timer defers it if that line is not ready within Discord's 3 s.
    answers = discord_frontend(bot).answers
    answers.hold(ctx.interaction)
    try:
        await _submit(ctx, spec, text=text, options=options, attachments=attachments)
    finally:
        await answers.release(ctx.interaction)


def discord_frontend(bot: SpotrunBot) -> DiscordFrontend:
    frontend = bot.core.frontends["discord"]
    assert isinstance(frontend, DiscordFrontend)
    return frontend


async def _submit(
    ctx: Ctx,
    spec: CommandSpec,
    *,
    text: str | None,
    options: Mapping[str, Any] | None,
    attachments: list[discord.Attachment] | None,
) -> None:
    bot: SpotrunBot = ctx.bot
    try:
        await check_budget(ctx)
    except DatabaseErrors as exc:
        raise StoreUnavailable from exc
    settings = bot.settings
    limit = max_upload(ctx, spec)
    given = list(ctx.message.attachments) if attachments is None else attachments
    files = await read_attachments(ctx, spec, given, limit)
    parsed: ParsedCommand
    if options is not None:
        parsed = parse_options(spec, options, files, max_file_bytes=limit)
    else:
        parsed = parse(
            spec.command,
            text or "",
            files,
            max_file_bytes=limit,
            prefix=settings.command_prefix,
            specs={spec.command: spec},
        )
    interaction = ctx.interaction
    submitting = bot.core.engine.submit(
        Submission(
            command=parsed.command,
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
    try:
        await submitting
    except DatabaseErrors as exc:
        # Admission and creation are one transaction: it failed, so nothing was stored.
        raise StoreUnavailable from exc
