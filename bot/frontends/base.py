"""The interface between the job pipeline and whatever shows a job to its user."""

from __future__ import annotations

from typing import Protocol

from bot.frontends.render import Message
from bot.jobs.store import Job


class DeliveryError(Exception):
    """A frontend could not deliver a message; the job stays unposted for a later retry."""


class Frontend(Protocol):
    """One per kind of user surface (Discord, console). Stateless per job: everything it needs to
    address a job's messages is in the job row, so a restarted process can re-attach."""

    name: str

    async def show_status(self, job: Job, text: str, *, active: bool) -> str | None:
        """Create or edit the job's one status message; `active` shows the Cancel button.
        Returns the status message id (stored on the job) or None."""

    async def post_result(self, job: Job, messages: list[Message]) -> str | None:
        """Post the rendered result exactly once; returns the first message's id."""

    async def show_result(self, job: Job, status: str, messages: list[Message]) -> str | None:
        """The status message becomes the result: `status` (the final line) and the result's first
        message in one edit, later messages posted after it. Returns the first message's id."""

    async def show_error(self, job: Job, text: str) -> str | None:
        """The status message becomes the error: what went wrong and what to do, said once (and
        only to the job's user where the surface allows). Returns the message's id."""
