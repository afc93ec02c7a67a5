"""The Discord frontend: the status message (with its Cancel button) and the posted result.

Everything needed to address a job's messages is in the job row (channel, origin message,
interaction token, status message id), so a restarted process re-attaches to them.
"""

from __future__ import annotations

import contextlib
import io
import time
from typing import TYPE_CHECKING, Any

import discord

from bot.frontends.answers import PendingAnswers
from bot.frontends.base import DeliveryError
from bot.frontends.render import Embed, Message
from bot.frontends.threads import is_long, result_thread, threads_on
from bot.jobs.database import DatabaseErrors
from bot.jobs.store import Job
from spotrun.logs import get_logger

if TYPE_CHECKING:
    from bot.client import SpotrunBot

log = get_logger("bot.discord")

NO_MENTIONS = discord.AllowedMentions.none()
CONTENT_MAX = 2000


def may_cancel(user: discord.abc.User, job: Job, owner_ids: tuple[int, ...]) -> bool:
    """The author, a bot owner, or someone who manages the server the job runs in."""
    if str(user.id) == job.user_id or user.id in owner_ids:
        return True
    perms = getattr(user, "guild_permissions", None)
    return bool(perms and (perms.manage_guild or perms.administrator) and job.guild_id)


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"spotrun:cancel:(?P<job>[A-Za-z0-9_-]{1,64})"
):
    """A dynamic item: its custom_id carries the job id, so it works after a restart too."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel", style=discord.ButtonStyle.danger, custom_id=f"spotrun:cancel:{job_id}"
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Button[Any], match: Any
    ) -> CancelButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: SpotrunBot = interaction.client
        # Answer within Discord's 3 s; cancelling a running job may take longer.
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await bot.core.store.get(self.job_id)
        if job is None:
            outcome = f"there is no job `{self.job_id}`"
        elif not may_cancel(interaction.user, job, bot.settings.owner_ids):
            outcome = "only the person who started this job or a server admin can cancel it"
        else:
            outcome = await bot.core.engine.cancel(self.job_id, by=interaction.user.display_name)
        await interaction.followup.send(outcome, ephemeral=True, allowed_mentions=NO_MENTIONS)


def cancel_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


class RunAgainButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"spotrun:again:(?P<job>[A-Za-z0-9_-]{1,64})"
):
    """On a result: the same command with the same arguments and files, as a new job. Only for
    the job's author (it spends their budget). Dynamic like Cancel: it works after a restart."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Run again", style=discord.ButtonStyle.secondary, custom_id=f"spotrun:again:{job_id}"
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Button[Any], match: Any
    ) -> RunAgainButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        from bot.billing.ledger import Ledger
        from bot.frontends.messages import budget_exhausted
        from bot.jobs.engine import Submission  # the engine imports this module
        from bot.jobs.limits import UserLimitReached

        bot: SpotrunBot = interaction.client
        old = await bot.core.store.get(self.job_id, with_files=True)
        refusal: str | None = None
        if old is None:
            refusal = f"there is no job `{self.job_id}` any more; run the command again"
        elif str(interaction.user.id) != old.user_id:
            refusal = "only the person who ran this command can run it again"
        elif (spec := bot.catalog.spec(old.command)) is None:
            refusal = f"`{old.command}` is not available right now; see `/help`"
        elif spec.needs_file and not old.files:
            refusal = "this job's input files are no longer kept; run the command again with the file"
        elif interaction.guild_id is not None:
            ledger = Ledger(bot.core.store, bot.core.engine.runner.prices)
            admission = await ledger.admit(
                str(interaction.guild_id), str(interaction.user.id), bot.settings.budget_warn_ratio
            )
            if admission.exhausted is not None:
                budget = admission.exhausted.budget
                refusal = budget_exhausted(budget.user_id is not None, budget.amount_usd, admission.resets_at)
        if refusal is not None or old is None:
            await interaction.response.send_message(
                refusal or "", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        # The new job's status line answers the click (a public message), as for a slash command.
        settings = bot.settings
        answers = bot.core.frontends["discord"].answers  # type: ignore[attr-defined]
        answers.hold(interaction)
        try:
            await bot.core.engine.submit(
                Submission(
                    command=old.command,
                    args=old.args,
                    files=old.files,
                    user_id=old.user_id,
                    frontend="discord",
                    guild_id=old.guild_id,
                    channel_id=str(interaction.channel_id),
                    interaction_id=str(interaction.id),
                    interaction_token=interaction.token,
                    token_expires_at=token_expiry(settings.interaction_ttl_s),
                )
            )
        except UserLimitReached as exc:
            await answers.release(interaction)
            if not interaction.response.is_done():
                await interaction.response.send_message(
                    str(exc), ephemeral=True, allowed_mentions=NO_MENTIONS
                )
                return
            await interaction.delete_original_response()  # the public "thinking…" of a slow store
            await interaction.followup.send(str(exc), ephemeral=True, allowed_mentions=NO_MENTIONS)
        finally:
            await answers.release(interaction)


def result_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RunAgainButton(job_id))
    return view


def to_embed(e: Embed) -> discord.Embed:
    embed = discord.Embed(title=e.title or None, description=e.description or None, color=e.color)
    for name, value, inline in e.fields:
        embed.add_field(name=name, value=value, inline=inline)
    if e.footer:
        embed.set_footer(text=e.footer)
    return embed


class DiscordFrontend:
    name = "discord"

    def __init__(self, bot: SpotrunBot) -> None:
        self.bot = bot
        self.started_at = time.time()
        self.answers = PendingAnswers(bot.settings.slash_ack_after_s)

    def _webhook(self, job: Job) -> discord.Webhook | None:
        if not job.interaction_alive() or self.bot.application_id is None:
            return None
        assert job.interaction_token is not None
        # An application webhook (type 3), as discord.py builds Interaction.followup: only that
        # kind may send ephemeral messages (a failed job's error goes to its user alone).
        data = {"id": self.bot.application_id, "type": 3, "token": job.interaction_token}
        return discord.Webhook.from_state(data=data, state=self.bot._connection)  # type: ignore[arg-type]

    def _channel(self, job: Job) -> discord.PartialMessageable:
        assert job.channel_id is not None, job.id
        return self.bot.get_partial_messageable(int(job.channel_id))

    def _reference(self, job: Job) -> discord.MessageReference | None:
        if not job.origin_message_id or not job.channel_id:
            return None
        return discord.MessageReference(
            message_id=int(job.origin_message_id), channel_id=int(job.channel_id), fail_if_not_exists=False
        )

    def status_view(self, job: Job, active: bool) -> discord.ui.View | None:
        """The status message's buttons: Cancel while the job is active (a subclass adds its own)."""
        return cancel_view(job.id) if active else None

    def finished_view(self, job: Job) -> discord.ui.View:
        """The buttons under a result: Run again (a subclass adds its own)."""
        return result_view(job.id)

    async def show_status(self, job: Job, text: str, *, active: bool) -> str | None:
        view = self.status_view(job, active)
        try:
            hook = self._webhook(job)
            # A final line clears embeds and files: written over a status that already became the
            # result (by a process that stopped before recording it), it leaves the result shown
            # once — in the message posted after it. A progress line never clears them: one from
            # a lagging process must not erase a result another process made of this message.
            cleared: dict[str, Any] = {} if active else {"embeds": [], "attachments": []}
            if (
                job.interaction_id
                and (answered := await self.answers.answer(job.interaction_id, text, view)) is not None
            ):
                return answered or None  # the status line is the slash command's response
            if hook is not None:
                msg = await hook.edit_message(
                    "@original", content=text, view=view, allowed_mentions=NO_MENTIONS, **cleared
                )  # type: ignore[arg-type]
                return str(msg.id)
            if job.status_message_id and job.status_message_id.isdigit():
                message = self._channel(job).get_partial_message(int(job.status_message_id))
                await message.edit(content=text, view=view, allowed_mentions=NO_MENTIONS, **cleared)
                return job.status_message_id
            kwargs: dict[str, Any] = {"view": view} if view is not None else {}
            msg = await self._channel(job).send(
                text,
                nonce=f"s{job.id}"[:25],
                reference=self._reference(job),  # type: ignore[arg-type]
                mention_author=False,
                allowed_mentions=NO_MENTIONS,
                **kwargs,
            )
            return str(msg.id)
        except discord.HTTPException as exc:
            raise DeliveryError(f"status of {job.id}: {exc}") from exc

    async def post_result(self, job: Job, messages: list[Message]) -> str | None:
        in_thread = await self._in_thread(job, messages)
        # "Run again" under the whole result: on its last message, or on the channel's one.
        view = self.finished_view(job) if in_thread or len(messages) == 1 else None
        first = await self._post(job, messages[0], nonce=f"r0{job.id}"[:25], view=view)
        await self._post_rest(job, first, messages, in_thread=in_thread)
        return first

    async def _in_thread(self, job: Job, messages: list[Message]) -> bool:
        """Whether this result's later messages go into a thread (the server's setting)."""
        if not is_long(messages):
            return False
        try:
            return await threads_on(self.bot.core.store, job.guild_id)
        except DatabaseErrors as exc:
            raise DeliveryError(f"result of {job.id}: settings unreadable: {exc}") from exc

    async def _post_rest(self, job: Job, anchor_id: str, messages: list[Message], *, in_thread: bool) -> None:
        """The result's later messages (nonces r1…): after the first, or in a thread started on it."""
        thread_id: str | None = None
        if in_thread and len(messages) > 1:
            try:
                thread_id = await result_thread(self.bot, job, anchor_id)
            except discord.HTTPException as exc:
                raise DeliveryError(f"thread for {job.id}: {exc}") from exc
        for i, message in enumerate(messages[1:], start=1):
            last = i == len(messages) - 1
            view = self.finished_view(job) if last and thread_id is None else None
            await self._post(job, message, nonce=f"r{i}{job.id}"[:25], view=view, channel_id=thread_id)

    async def show_result(self, job: Job, status: str, messages: list[Message]) -> str | None:
        first, rest = messages[0], messages[1:]
        in_thread = await self._in_thread(job, messages)
        if in_thread:
            status = f"{status} · the rest is in the thread 🧵"
        content = f"{status}\n{first.content}".strip()
        hook = self._webhook(job)
        editable = hook is not None or (
            job.status_message_id is not None and job.status_message_id.isdigit() and not job.interaction_id
        )
        # Only the process that accepted the job edits its status into the result. A job resumed
        # after a restart (or one whose status this process may not edit: a slash job past its
        # 15 minutes, a status never created) gets the final line and the result as its own
        # message(s) with the job's nonces, which Discord de-duplicates across processes.
        fresh = job.created_at >= self.started_at
        if not fresh or not editable or len(content) > 2000:
            await self.show_status(job, f"{status} — result below", active=False)
            return await self.post_result(job, messages)
        embeds = [to_embed(e) for e in first.embeds]
        files = [discord.File(io.BytesIO(a.data), filename=a.name) for a in first.files]
        # Also drops the Cancel button. With a thread, Run again stays in the channel.
        view = self.finished_view(job) if not rest or in_thread else None
        try:
            if hook is not None:
                msg = await hook.edit_message(
                    "@original",
                    content=content,
                    embeds=embeds,
                    attachments=files,
                    view=view,  # type: ignore[arg-type]
                    allowed_mentions=NO_MENTIONS,
                )
                first_id = str(msg.id)
            else:
                assert job.status_message_id is not None
                message = self._channel(job).get_partial_message(int(job.status_message_id))
                await message.edit(
                    content=content, embeds=embeds, attachments=files, view=view, allowed_mentions=NO_MENTIONS
                )
                first_id = job.status_message_id
        except discord.HTTPException as exc:
            raise DeliveryError(f"result of {job.id}: {exc}") from exc
        await self._post_rest(job, first_id, messages, in_thread=in_thread)
        return first_id

    async def show_error(self, job: Job, text: str) -> str | None:
        """One plain message: the status becomes the error. A slash job in the process that
        accepted it trades its public status for an ephemeral answer (Discord cannot make a
        message ephemeral later): the reason goes to the one person it concerns."""
        line = error_line(text, job.id)
        hook = self._webhook(job)
        fresh = job.created_at >= self.started_at
        try:
            if hook is not None and fresh and job.status_message_id and job.status_message_id.isdigit():
                with contextlib.suppress(discord.NotFound):  # an earlier attempt deleted it
                    await hook.delete_message(int(job.status_message_id))
                sent = await hook.send(line, ephemeral=True, wait=True, allowed_mentions=NO_MENTIONS)
                return str(sent.id)
            # An edit says the same thing however often it is retried, by whichever process.
            cleared: dict[str, Any] = {"embeds": [], "attachments": [], "view": None}
            if hook is not None:
                msg = await hook.edit_message(
                    "@original", content=line, allowed_mentions=NO_MENTIONS, **cleared
                )  # type: ignore[call-overload]
                return str(msg.id)
            if job.status_message_id and job.status_message_id.isdigit() and not job.interaction_id:
                message = self._channel(job).get_partial_message(int(job.status_message_id))
                await message.edit(content=line, allowed_mentions=NO_MENTIONS, **cleared)
                return job.status_message_id
        except discord.NotFound:
            pass  # the status message is gone (deleted by someone): say it in a message of its own
        except discord.HTTPException as exc:
            raise DeliveryError(f"error of {job.id}: {exc}") from exc
        return await self._post(job, Message(content=line), nonce=f"e{job.id}"[:25])

    async def _post(
        self,
        job: Job,
        message: Message,
        *,
        nonce: str,
        view: discord.ui.View | None = None,
        channel_id: str | None = None,
    ) -> str:
        """One message of the job's: a follow-up while this process holds the interaction, else
        a channel message with the job's nonce; into `channel_id` (a thread) when given."""
        embeds = [to_embed(e) for e in message.embeds]
        files = [discord.File(io.BytesIO(a.data), filename=a.name) for a in message.files]
        extra: dict[str, Any] = {"view": view} if view is not None else {}
        try:
            if channel_id is not None:
                # In the job's thread: a plain message there, de-duplicated by its nonce.
                in_thread = await self.bot.get_partial_messageable(int(channel_id)).send(
                    message.content or None,
                    embeds=embeds,
                    files=files,
                    nonce=nonce,
                    allowed_mentions=NO_MENTIONS,
                    **extra,
                )
                return str(in_thread.id)
            # A follow-up has no nonce: only the process that accepted the interaction sends one.
            # After a restart the previous process may have sent it unrecorded, so the result goes
            # to the channel with the job's nonce, which Discord de-duplicates across processes.
            hook = self._webhook(job) if job.created_at >= self.started_at else None
            if hook is not None:
                # The interaction is still open: a follow-up lands under the user's slash command.
                sent = await hook.send(
                    content=message.content or discord.utils.MISSING,
                    embeds=embeds,
                    files=files,
                    allowed_mentions=NO_MENTIONS,
                    wait=True,
                    **extra,
                )
                return str(sent.id)
            content, allowed = message.content, NO_MENTIONS
            if job.interaction_id and not job.origin_message_id:
                # A slash command past its 15-minute window, or resumed by a later process:
                # address the user, ping only them.
                content = f"<@{job.user_id}> {content}".strip()
                allowed = discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(int(job.user_id))], replied_user=False
                )
            sent_msg = await self._channel(job).send(
                content or None,
                embeds=embeds,
                files=files,
                nonce=nonce,
                reference=self._reference(job),  # type: ignore[arg-type]
                mention_author=False,
                allowed_mentions=allowed,
                **extra,
            )
            return str(sent_msg.id)
        except discord.HTTPException as exc:
            raise DeliveryError(f"result of {job.id}: {exc}") from exc


def error_line(text: str, job_id: str) -> str:
    """A failed job's one message: the reason in plain words, the job id small underneath."""
    tail = f"\n-# job `{job_id}`"
    return f"❌ {text}"[: CONTENT_MAX - len(tail)] + tail


def token_expiry(ttl_s: float) -> float:
    return time.time() + ttl_s
