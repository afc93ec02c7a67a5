"""Long results in a thread on the job's message, where a server's admins turned it on.

A result is long when it needs more than one message (Discord: 2000 characters of content and
6000 of embeds per message). With `/config result-threads on` its first message stays in the
channel (the status message becomes it) and the rest go into a public thread started on that
message, so a channel shows one message per job however chatty the result. The thread's id is
recorded on the job: a retried or taken-over post reuses it, and Discord refuses a second thread
on one message (160004), whose id is the message's own, so creating it is idempotent either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.frontends.render import Message
from bot.jobs.store import Job, JobStore

if TYPE_CHECKING:
    from bot.client import SpotrunBot

# The per-server setting (bot.exts.config) and its values; off unless an admin turns it on.
RESULT_THREADS = "result-threads"
ON, OFF = "on", "off"

# Discord: "A thread has already been created for this message".
_THREAD_EXISTS = 160004
# A day without messages archives the thread (it reopens when someone writes in it).
_ARCHIVE_AFTER_MIN = 1440


def is_long(messages: list[Message]) -> bool:
    return len(messages) > 1


async def threads_on(store: JobStore, guild_id: str | None) -> bool:
    if guild_id is None:
        return False  # DMs have no threads
    return await store.guild_setting(guild_id, RESULT_THREADS) == ON


def thread_name(job: Job) -> str:
    return f"{job.command} · job {job.id}"[:100]


async def result_thread(bot: SpotrunBot, job: Job, message_id: str) -> str:
    """The id of the thread on `message_id` for this job's later messages: recorded, or made now."""
    if job.thread_id:
        return job.thread_id
    assert job.channel_id is not None, job.id
    try:
        # The HTTP call, not PartialMessage.create_thread: a worker process (no gateway) has no
        # guild cache, and the call needs only the ids.
        data = await bot.http.start_thread_with_message(
            int(job.channel_id),
            int(message_id),
            name=thread_name(job),
            auto_archive_duration=_ARCHIVE_AFTER_MIN,
        )
        thread_id = str(data["id"])
    except discord.HTTPException as exc:
        if exc.code != _THREAD_EXISTS:
            raise
        thread_id = message_id  # made by an earlier attempt that died before recording it
    job.thread_id = thread_id
    await bot.core.store.update(job.id, thread_id=thread_id)
    return thread_id
