"""Fair scheduling: per-agent concurrency, per-user running slots, round-robin between users, FIFO each.

The store rebuilds one from its rows for every claim (bot.jobs.store.fair_queue), so every
process follows the same order; the class itself stays pure bookkeeping."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from bot.jobs.limits import UserLimitReached, UserLimits

__all__ = ["FairQueue", "Ticket", "UserLimitReached"]


@dataclass(frozen=True)
class Ticket:
    job_id: str
    user_id: str
    agent: str


class FairQueue:
    """Pure bookkeeping, no I/O: the engine asks it what to run next and what position a job has.

    It does not admit or refuse: the job store does that, atomically with creating the job (the
    store sees every process's jobs). The queue holds exactly the jobs the store admitted."""

    def __init__(self, agent_limits: dict[str, int], max_running_per_user: int, max_queued_per_user: int):
        self.agent_limits = dict(agent_limits)
        self.max_running = max_running_per_user
        self.max_queued = max_queued_per_user
        self._queued: dict[str, deque[Ticket]] = {}
        self._rotation: deque[str] = deque()  # users in round-robin order
        self._running: dict[str, Ticket] = {}

    @property
    def limits(self) -> UserLimits:
        """What the store enforces when it admits a job (max_running also paces dispatch here)."""
        return UserLimits(self.max_running, self.max_queued)

    # --------------------------------------------------------------------- queries

    def running_of(self, user_id: str) -> int:
        return sum(1 for t in self._running.values() if t.user_id == user_id)

    def queued_of(self, user_id: str) -> int:
        return len(self._queued.get(user_id, ()))

    def running_on(self, agent: str) -> int:
        return sum(1 for t in self._running.values() if t.agent == agent)

    @property
    def depth(self) -> int:
        return sum(len(q) for q in self._queued.values())

    def is_queued(self, job_id: str) -> bool:
        return any(t.job_id == job_id for q in self._queued.values() for t in q)

    def is_running(self, job_id: str) -> bool:
        return job_id in self._running

    def order(self) -> list[Ticket]:
        """Queued tickets in the order they would start: one per user per round, FIFO per user."""
        queues = [list(self._queued[u]) for u in self._rotation]
        out: list[Ticket] = []
        for depth in range(max((len(q) for q in queues), default=0)):
            out.extend(q[depth] for q in queues if depth < len(q))
        return out

    def position(self, job_id: str) -> int | None:
        """1-based position among the queued jobs waiting for the same agent."""
        order = self.order()
        ticket = next((t for t in order if t.job_id == job_id), None)
        if ticket is None:
            return None
        same_agent = [t.job_id for t in order if t.agent == ticket.agent]
        return same_agent.index(job_id) + 1

    # ------------------------------------------------------------------- mutations

    def admit(self, ticket: Ticket) -> int:
        """Queue a ticket the store has admitted; returns its position."""
        self.add(ticket)
        position = self.position(ticket.job_id)
        assert position is not None
        return position

    def add(self, ticket: Ticket) -> None:
        """Queue a ticket at the back of its user's FIFO (a new user joins the rotation last)."""
        if ticket.user_id not in self._queued:
            self._queued[ticket.user_id] = deque()
            self._rotation.append(ticket.user_id)
        self._queued[ticket.user_id].append(ticket)

    def mark_running(self, ticket: Ticket) -> None:
        """A job running anywhere (any process): it takes its agent's and its user's slots."""
        self._running[ticket.job_id] = ticket

    def remove(self, job_id: str) -> bool:
        for user, q in self._queued.items():
            for t in q:
                if t.job_id == job_id:
                    q.remove(t)
                    if not q:
                        self._drop_user(user)
                    return True
        return False

    def next_ready(self) -> Ticket | None:
        """Move the next startable ticket to running, or None if every candidate must wait."""
        for ticket in self.order():
            if self.running_on(ticket.agent) >= self.agent_limits.get(ticket.agent, 1):
                continue
            if self.running_of(ticket.user_id) >= self.max_running:
                continue
            q = self._queued[ticket.user_id]
            if q[0] is not ticket:  # FIFO per user: never overtake one's own older job
                continue
            q.popleft()
            self._running[ticket.job_id] = ticket
            # The user who just got a slot goes to the back of the rotation.
            self._rotation.remove(ticket.user_id)
            if q:
                self._rotation.append(ticket.user_id)
            else:
                del self._queued[ticket.user_id]
            return ticket
        return None

    def done(self, job_id: str) -> None:
        self._running.pop(job_id, None)

    def _drop_user(self, user: str) -> None:
        del self._queued[user]
        self._rotation.remove(user)
