"""Per-user admission limits, and the refusal raised when a new job would exceed them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserLimits:
    """A user may have at most `max_running + max_queued` jobs that are queued or running: a job
    that can start at once still passes through the queue, so both count together."""

    max_running: int
    max_queued: int

    @property
    def active(self) -> int:
        """How many of a user's jobs may be queued or running at once."""
        return self.max_running + self.max_queued


class UserLimitReached(Exception):
    """The user already has as many jobs running and queued as the bot allows."""

    def __init__(self, running: int, queued: int, max_running: int, max_queued: int) -> None:
        super().__init__(
            f"you already have {running} running and {queued} queued jobs "
            f"(limit: {max_running} running + {max_queued} queued) — wait for one to finish "
            "or cancel one with `cancel <job>`"
        )
        self.running, self.queued = running, queued
        self.max_running, self.max_queued = max_running, max_queued
