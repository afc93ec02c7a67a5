"""Slash commands not answered yet: the job's first status line becomes the interaction's response.

A defer followed by an edit costs two REST calls before the result; answering the interaction
with the status line itself (CHANNEL_MESSAGE_WITH_SOURCE) costs one, so a simple `/x` costs two
calls in all, like `!x`. Discord wants an answer within 3 s: if the status line is not ready by
`ack_after_s` (a slow attachment download or store), a public defer answers for it and the
status line becomes an edit, as before. Only the process that received the interaction can
answer it, so this lives in memory; every later write edits `@original` from any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import discord

from spotrun.logs import get_logger

log = get_logger("bot.answers")

# Marks an interaction whose deferred reply is public (see bot.exts.errors._withdraw_public_reply).
PUBLIC_DEFER = "spotrun.public_defer"


@dataclass
class _Pending:
    interaction: discord.Interaction[Any]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timer: asyncio.Task[None] | None = None


class PendingAnswers:
    def __init__(self, ack_after_s: float) -> None:
        self.ack_after_s = ack_after_s
        self._pending: dict[str, _Pending] = {}

    def hold(self, interaction: discord.Interaction[Any]) -> None:
        """Keep `interaction` open for its job's first status line; defer it in time if none comes."""
        pending = _Pending(interaction)
        pending.timer = asyncio.create_task(self._defer_later(pending, time.monotonic()))
        self._pending[str(interaction.id)] = pending

    async def release(self, interaction: discord.Interaction[Any]) -> None:
        """The command is done with its interaction (answered, or failed before becoming a job):
        stop the timer — after a defer in flight, so the error handler sees the true state."""
        pending = self._pending.pop(str(interaction.id), None)
        if pending is None or pending.timer is None:
            return
        async with pending.lock:
            pending.timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending.timer

    async def answer(self, interaction_id: str, text: str, view: discord.ui.View | None) -> str | None:
        """Send `text` as the interaction's response if it is still unanswered here: the
        message's id; None when this process cannot (or no longer needs to) answer it."""
        pending = self._pending.get(interaction_id)
        if pending is None:
            return None
        async with pending.lock:
            response = pending.interaction.response
            if response.is_done():
                return None
            extra: dict[str, Any] = {"view": view} if view is not None else {}
            sent = await response.send_message(text, allowed_mentions=discord.AllowedMentions.none(), **extra)
            return str(sent.message_id or "")  # answered ("" when Discord did not say the id)

    async def _defer_later(self, pending: _Pending, held_at: float) -> None:
        await asyncio.sleep(max(0.0, self.ack_after_s - (time.monotonic() - held_at)))
        async with pending.lock:
            interaction = pending.interaction
            if interaction.response.is_done():
                return
            try:
                await interaction.response.defer(thinking=True)
            except discord.HTTPException as exc:
                log.warning("could not defer a slow slash command", error=str(exc))
                return
            interaction.extras[PUBLIC_DEFER] = True
