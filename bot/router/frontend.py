"""The Discord frontend for routed jobs: the status message (and the result it becomes) opens with
how the request was understood, with a button to say it was misread."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import discord

from bot.frontends.discord import DiscordFrontend
from bot.frontends.render import Message
from bot.jobs.store import Job
from bot.router.buttons import FixButton
from bot.router.records import Note, RouteRecords
from bot.router.start import FRONTEND

if TYPE_CHECKING:
    from bot.client import SpotrunBot

_CACHE = 2048  # notes of recent jobs kept in memory; the store has them all


class RoutedDiscordFrontend(DiscordFrontend):
    name = FRONTEND

    def __init__(self, bot: SpotrunBot, records: RouteRecords) -> None:
        super().__init__(bot)
        self.records = records
        self._notes: OrderedDict[str, Note | None] = OrderedDict()

    async def _note(self, job: Job) -> Note | None:
        if job.id not in self._notes:
            origin = job.origin_message_id or job.interaction_id
            self._notes[job.id] = await self.records.note_for(origin) if origin else None
            while len(self._notes) > _CACHE:
                self._notes.popitem(last=False)
        return self._notes[job.id]

    @staticmethod
    def _with_note(note: Note | None, text: str) -> str:
        if note is None:
            return text
        line = note.text()
        return text if text.startswith(line) else f"{line}\n{text}"

    async def show_status(self, job: Job, text: str, *, active: bool) -> str | None:
        note = await self._note(job)
        return await super().show_status(job, self._with_note(note, text), active=active)

    async def show_result(self, job: Job, status: str, messages: list[Message]) -> str | None:
        note = await self._note(job)
        return await super().show_result(job, self._with_note(note, status), messages)

    def status_view(self, job: Job, active: bool) -> discord.ui.View | None:
        view = super().status_view(job, active) or discord.ui.View(timeout=None)
        note = self._notes.get(job.id)
        if note is not None:
            view.add_item(FixButton(note.route_id))
        return view if view.children else None

    def finished_view(self, job: Job) -> discord.ui.View:
        view = super().finished_view(job)
        note = self._notes.get(job.id)
        if note is not None:
            view.add_item(FixButton(note.route_id))
        return view
