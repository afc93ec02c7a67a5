"""The router's buttons: pick one of the readings offered, or say a started job was misread. Dynamic
items like Cancel: the custom_id names the stored route record, so they work after a restart and
in any process."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, cast

import discord
from discord.ext import commands

from bot.commands.parse import UsageError
from bot.frontends.discord import NO_MENTIONS
from bot.jobs.limits import UserLimitReached
from bot.router.records import RouteRecord, RouteRecords
from bot.router.start import fetch_again, start_reading
from spotrun.logs import get_logger

if TYPE_CHECKING:
    from bot.client import SpotrunBot

log = get_logger("bot.router.buttons")

LABEL_MAX = 80  # Discord's limit for a button label


class PickButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"spotrun:pick:(?P<route>[0-9a-f]{12}):(?P<index>[0-9])",
):
    """One reading of an ambiguous request; pressing it starts that job (the asker only, once)."""

    def __init__(self, route_id: str, index: int, label: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=(label or f"option {index + 1}")[:LABEL_MAX],
                style=discord.ButtonStyle.primary,
                custom_id=f"spotrun:pick:{route_id}:{index}",
            )
        )
        self.route_id = route_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Button[Any], match: Any
    ) -> PickButton:
        return cls(match["route"], int(match["index"]), item.label or "")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: SpotrunBot = interaction.client
        records = RouteRecords(bot.core.store)
        record = await records.get(self.route_id)
        refusal = _refusal(record, interaction, self.index)
        if refusal is not None or record is None:
            await interaction.response.send_message(
                refusal or "", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        # Marked before anything slow: a second click (here or in another process) is refused.
        record.picked.append(self.index)
        await records.save(record)
        # A public deferred answer becomes the job's status message, as for a slash command.
        await interaction.response.defer(thinking=True)
        try:
            files = await fetch_again(bot, record.files)
            assert interaction.channel is not None
            await start_reading(
                bot,
                records,
                record,
                self.index,
                files,
                channel=cast(discord.abc.Messageable, interaction.channel),
                interaction=interaction,
            )
        except (UsageError, UserLimitReached, commands.CheckFailure) as exc:
            record.picked.remove(self.index)  # nothing started: it may be picked again
            await records.save(record)
            await _withdraw(interaction, str(exc))
            return
        except Exception:  # the edge: the user gets a reference, the log the traceback
            ref = secrets.token_hex(4)
            log.exception("pick failed", ref=ref, route=self.route_id)
            await _withdraw(interaction, f"something went wrong on our side (ref `{ref}`); try again")
            return
        if interaction.message is not None and not interaction.message.flags.ephemeral:
            try:  # the question is answered: its buttons go, the choice stays visible
                line = record.readings[self.index].line
                await interaction.message.edit(content=f"→ picked `{line}`", view=None)
            except discord.HTTPException as exc:
                log.info("could not close the choices", error=str(exc))


def _refusal(record: RouteRecord | None, interaction: discord.Interaction[Any], index: int) -> str | None:
    if record is None:
        return "this choice is no longer known; ask again"
    if str(interaction.user.id) != record.user_id:
        return "only the person who asked can pick"
    if index >= len(record.readings):
        return "this choice is no longer known; ask again"
    if index in record.picked:
        return "already started — see the status message"
    return None


async def _withdraw(interaction: discord.Interaction[Any], text: str) -> None:
    """Refused after the public "thinking…": remove it and tell the user privately."""
    try:
        await interaction.delete_original_response()
    except discord.HTTPException as exc:
        log.info("could not withdraw the public reply", error=str(exc))
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


class FixButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"spotrun:fix:(?P<route>[0-9a-f]{12})"
):
    """On a routed job's status: "not what I meant" cancels it (if still running) and offers the
    other readings — the asker only."""

    def __init__(self, route_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Not what I meant",
                style=discord.ButtonStyle.secondary,
                custom_id=f"spotrun:fix:{route_id}",
            )
        )
        self.route_id = route_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Button[Any], match: Any
    ) -> FixButton:
        return cls(match["route"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: SpotrunBot = interaction.client
        record = await RouteRecords(bot.core.store).get(self.route_id)
        if record is None or str(interaction.user.id) != record.user_id:
            text = (
                "only the person who asked can correct this" if record else "this request is no longer known"
            )
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = ""
        job_id = _job_of(interaction)
        if job_id is not None:
            job = await bot.core.store.get(job_id)
            if job is not None and not job.state.finished:
                outcome = await bot.core.engine.cancel(job_id, by=interaction.user.display_name) + ". "
        others = [i for i in range(len(record.readings)) if i not in record.picked]
        prefix = bot.settings.command_prefix
        if not others:
            await interaction.followup.send(
                f"{outcome}Tell me again in other words, or use a command (`{prefix}help` shows examples).",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        view = discord.ui.View(timeout=None)
        for i in others[:4]:
            view.add_item(PickButton(record.id, i, record.readings[i].line))
        await interaction.followup.send(
            f"{outcome}Did you mean one of these? Or say it again in other words.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


def _job_of(interaction: discord.Interaction[Any]) -> str | None:
    """The job whose status message carries the button: its Cancel button names it."""
    message = interaction.message
    if message is None:
        return None
    for row in message.components:
        for child in getattr(row, "children", []):
            custom_id = getattr(child, "custom_id", None) or ""
            for head in ("spotrun:cancel:", "spotrun:again:"):
                if custom_id.startswith(head):
                    return custom_id.removeprefix(head)
    return None


def choices_view(record: RouteRecord) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for i, reading in enumerate(record.readings[:4]):
        view.add_item(PickButton(record.id, i, reading.line))
    return view
