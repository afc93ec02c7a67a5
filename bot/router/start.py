"""From a routed reading to a job, through the same checks as `!x`: the budget, the command's typed
model and file rules, the per-user limits in the engine's submit — nothing a command could not do."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.commands.parse import guess_content_type, parse_options
from bot.exts._submit import admit_budget
from bot.frontends.discord import token_expiry
from bot.jobs.engine import Submission
from bot.router.extract import FileInfo
from bot.router.records import FileRef, Note, RouteRecord, RouteRecords
from spotrun.protocol import CommandSpec, InputFile

if TYPE_CHECKING:
    from bot.client import SpotrunBot

FRONTEND = "discord-routed"
_TABLES = ("text/csv", "text/tab-separated-values", "text/plain", "application/csv")
HEADER_BYTES = 64 * 1024


class TooLarge(commands.CheckFailure):
    """An attachment over the bot's input limit: refused before it is downloaded."""


def header_of(data: bytes) -> list[str]:
    """The column names of a CSV/TSV (its first line), or [] when it does not look like a table."""
    head = data[:HEADER_BYTES].decode("utf-8", errors="ignore").lstrip("\ufeff")
    first = head.splitlines()[0] if head.strip() else ""
    if not first:
        return []
    delimiter = "\t" if "\t" in first else ";" if first.count(";") > first.count(",") else ","
    row = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    names = [c.strip() for c in row if c.strip()]
    return names if len(names) >= 1 and all(len(n) <= 128 for n in names) else []


async def read_attachments(
    bot: SpotrunBot, attachments: list[discord.Attachment]
) -> tuple[list[InputFile], list[FileInfo], list[FileRef]]:
    """Download what is attached once (the router reads a table's header; the job gets the bytes)."""
    limit = bot.settings.max_input_bytes
    files, infos, refs = [], [], []
    for att in attachments:
        if att.size > limit:
            raise TooLarge(
                f"{att.filename} is {att.size / 1048576:.1f} MiB; the limit is {limit / 1048576:.0f} MiB"
            )
        data = await att.read()
        ctype = guess_content_type(att.filename, att.content_type)
        columns = header_of(data) if ctype.startswith(_TABLES) else []
        files.append(InputFile(name=att.filename, content_type=ctype, data=data))
        infos.append(FileInfo(att.filename, ctype, att.size, tuple(columns)))
        refs.append(FileRef(att.filename, ctype, att.size, att.url, columns))
    return files, infos, refs


async def fetch_again(bot: SpotrunBot, refs: list[FileRef]) -> list[InputFile]:
    """A button pressed later: the attachments again, from Discord's copies."""
    limit = bot.settings.max_input_bytes
    out = []
    for ref in refs:
        if ref.size > limit:
            raise TooLarge(f"{ref.name} is over the {limit / 1048576:.0f} MiB limit")
        try:
            data = await bot.http.get_from_cdn(ref.url)
        except discord.HTTPException:
            raise commands.CheckFailure(
                f"{ref.name} is no longer available on Discord; attach it again and ask again"
            ) from None
        out.append(InputFile(name=ref.name, content_type=ref.content_type, data=data))
    return out


def upload_limit(bot: SpotrunBot, spec: CommandSpec) -> int:
    limit = bot.settings.max_input_bytes
    return min(limit, spec.limits.max_upload_bytes) if spec.limits else limit


async def start_reading(
    bot: SpotrunBot,
    records: RouteRecords,
    record: RouteRecord,
    index: int,
    files: list[InputFile],
    *,
    channel: discord.abc.Messageable,
    origin_message_id: str | None = None,
    interaction: discord.Interaction[SpotrunBot] | None = None,
) -> str:
    """Submit reading `index` of `record` as a job of the record's user; returns the job id.
    Raises what `!x` raises: BudgetExhausted, UsageError, UserLimitReached, CheckFailure. The
    caller marks the reading picked (before, so a second click is refused)."""
    reading = record.readings[index]
    spec = bot.catalog.spec(reading.command)
    if spec is None:
        raise commands.CheckFailure(f"`{reading.command}` is not available right now; see `/help`")
    await admit_budget(bot, int(record.guild_id) if record.guild_id else None, int(record.user_id), channel)
    parsed = parse_options(spec, reading.args, files, max_file_bytes=upload_limit(bot, spec))
    origin = origin_message_id or (str(interaction.id) if interaction else None)
    if origin is not None:
        # Written before the job exists: its first status line already says how it was read.
        await records.note(origin, Note(record.id, reading.line, record.router, record.cost_usd))
    job, _ = await bot.core.engine.submit(
        Submission(
            command=parsed.command,
            args=parsed.args.model_dump(mode="json"),
            files=parsed.files,
            user_id=record.user_id,
            frontend=FRONTEND,
            guild_id=record.guild_id,
            channel_id=record.channel_id,
            origin_message_id=origin_message_id,
            interaction_id=str(interaction.id) if interaction else None,
            interaction_token=interaction.token if interaction else None,
            token_expires_at=token_expiry(bot.settings.interaction_ttl_s) if interaction else None,
            # Billed once, with the first job started from this request (not again on a re-pick).
            routing_usd=None if len(record.picked) > 1 else record.cost_usd or None,
        )
    )
    return job.id


def capabilities(bot: SpotrunBot, intro: str) -> str:
    """A short list of what the bot can do, from the manifests (a new agent shows up by itself)."""
    prefix = bot.settings.command_prefix
    lines = [intro]
    for name, spec in sorted(bot.catalog.specs().items()):
        lines.append(f"• `{prefix}{name}` — {spec.summary}")
    lines.append(f"Say it in other words, or use a command (`{prefix}help` shows examples).")
    text = "\n".join(lines)
    return text if len(text) <= 1900 else text[:1890] + "…"
