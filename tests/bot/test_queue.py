"""The fair queue: per-user running slots, round-robin between users, FIFO per user, agent concurrency."""

from __future__ import annotations

from bot.jobs.queue import FairQueue, Ticket


def drain(q: FairQueue) -> list[str]:
    started = []
    while (t := q.next_ready()) is not None:
        started.append(t.job_id)
    return started


def test_round_robin_between_users_fifo_per_user() -> None:
    q = FairQueue({"a": 1}, max_running_per_user=5, max_queued_per_user=10)
    for job in ("a1", "a2", "a3"):
        q.admit(Ticket(job, "alice", "a"))
    for job in ("b1", "b2"):
        q.admit(Ticket(job, "bob", "a"))
    q.admit(Ticket("c1", "carol", "a"))
    assert [t.job_id for t in q.order()] == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert q.position("b2") == 5
    order = []
    while q.depth:
        t = q.next_ready()
        assert t is not None
        assert q.next_ready() is None  # agent "a" runs one at a time
        order.append(t.job_id)
        q.done(t.job_id)
    assert order == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_per_agent_concurrency() -> None:
    q = FairQueue({"a": 2, "b": 1}, max_running_per_user=10, max_queued_per_user=10)
    for i in range(3):
        q.admit(Ticket(f"a{i}", f"u{i}", "a"))
        q.admit(Ticket(f"b{i}", f"v{i}", "b"))
    assert sorted(drain(q)) == ["a0", "a1", "b0"]
    assert q.running_on("a") == 2 and q.running_on("b") == 1
    q.done("a0")
    assert drain(q) == ["a2"]
    assert q.position("b1") == 1 and q.position("b2") == 2


def test_per_user_running_slots() -> None:
    # The queue never refuses (the store admits, see test_store); it paces each user's jobs.
    q = FairQueue({"a": 10}, max_running_per_user=2, max_queued_per_user=1)
    assert q.limits.max_running == 2 and q.limits.max_queued == 1
    for i in range(4):
        q.admit(Ticket(f"j{i}", "alice", "a"))
    assert drain(q) == ["j0", "j1"]  # the others wait: alice may run only 2 at once
    q.admit(Ticket("other", "bob", "a"))  # other users are not affected
    assert drain(q) == ["other"]
    q.done("j0")
    assert drain(q) == ["j2"]


def test_remove_queued_job_updates_positions() -> None:
    q = FairQueue({"a": 1}, 1, 5)
    q.admit(Ticket("x", "u", "a"))
    q.admit(Ticket("y", "u", "a"))
    assert q.position("y") == 2
    assert q.remove("x") is True
    assert q.position("y") == 1
    assert q.remove("x") is False
