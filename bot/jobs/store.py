"""The job store: every command becomes a row here before anything is dispatched (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.jobs.database import Conn, Database, PostgresDatabase, SqliteDatabase
from bot.jobs.limits import UserLimitReached, UserLimits
from bot.jobs.queue import FairQueue, Ticket
from spotrun.protocol import AgentResult, InputFile


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


# Allowed transitions; anything else is a bug in the caller and raises.
_NEXT: dict[JobState, set[JobState]] = {
    JobState.QUEUED: {JobState.RUNNING, JobState.CANCELLED, JobState.FAILED},
    # running -> queued: a job interrupted by a restart is re-queued (next issue resumes it).
    JobState.RUNNING: {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED},
}

# Each entry upgrades the schema by one version; never edit an entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        args_json TEXT NOT NULL,
        user_id TEXT NOT NULL,
        guild_id TEXT,
        channel_id TEXT,
        frontend TEXT NOT NULL DEFAULT 'discord',
        origin_message_id TEXT,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        error_code TEXT,
        error_message TEXT,
        result_json TEXT,
        status_message_id TEXT,
        interaction_id TEXT,
        interaction_token TEXT,
        token_expires_at REAL,
        posted_at REAL,
        result_message_id TEXT,
        attempt INTEGER NOT NULL DEFAULT 0,
        vcpu_s REAL, gib_s REAL, requests INTEGER, provider_usd REAL, total_usd REAL
    );
    CREATE INDEX jobs_user ON jobs(user_id, created_at);
    CREATE INDEX jobs_state ON jobs(state);
    CREATE TABLE job_files (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (job_id, idx)
    );
    CREATE TABLE monitors (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        interval_s REAL NOT NULL,
        user_id TEXT NOT NULL,
        guild_id TEXT,
        channel_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        next_check_at REAL NOT NULL,
        last_checked_at REAL,
        fingerprint TEXT,
        title TEXT,
        text TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # The cost ledger (bot.billing.ledger): which agent billed a job, for how long, and monthly budgets.
    """
    ALTER TABLE jobs ADD COLUMN agent TEXT;
    ALTER TABLE jobs ADD COLUMN billed_s REAL;
    CREATE INDEX jobs_finished ON jobs(finished_at);
    CREATE INDEX jobs_guild_finished ON jobs(guild_id, finished_at);
    CREATE TABLE budgets (
        guild_id TEXT NOT NULL,
        user_id TEXT NOT NULL DEFAULT '',
        amount_usd REAL NOT NULL,
        set_by TEXT NOT NULL,
        set_at REAL NOT NULL,
        warned_month TEXT,
        PRIMARY KEY (guild_id, user_id)
    );
    """,
    # Monitors as scheduled jobs (bot.monitors): the interval as the user wrote it, a CSS selector
    # and ignore rules, the pending check job, when the page last changed; indexes for the caps.
    """
    ALTER TABLE monitors ADD COLUMN interval_text TEXT;
    ALTER TABLE monitors ADD COLUMN selector TEXT;
    ALTER TABLE monitors ADD COLUMN ignore_json TEXT;
    ALTER TABLE monitors ADD COLUMN job_id TEXT;
    ALTER TABLE monitors ADD COLUMN last_change_at REAL;
    ALTER TABLE monitors ADD COLUMN failing_since REAL;
    CREATE INDEX monitors_guild ON monitors(guild_id);
    CREATE INDEX monitors_user ON monitors(user_id);
    CREATE INDEX monitors_channel_url ON monitors(channel_id, url);
    CREATE INDEX monitors_due ON monitors(next_check_at);
    CREATE INDEX monitors_job ON monitors(job_id);
    """,
    # Any process runs any job (PostgreSQL): the lease on a running job, a cancel asked for by
    # another process, the claim on delivering the result (the outbox), and run-once duties.
    """
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_expires_at REAL;
    ALTER TABLE jobs ADD COLUMN cancel_requested_by TEXT;
    ALTER TABLE jobs ADD COLUMN post_owner TEXT;
    ALTER TABLE jobs ADD COLUMN post_expires_at REAL;
    CREATE INDEX jobs_queue ON jobs(state, user_id, created_at);
    CREATE INDEX jobs_user_started ON jobs(user_id, started_at);
    CREATE INDEX jobs_lease_owner ON jobs(lease_owner);
    CREATE INDEX jobs_unposted ON jobs(state, finished_at) WHERE posted_at IS NULL;
    CREATE TABLE duties (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL);
    """,
    # Shards across processes (bot.shards): who holds each shard's gateway session (a lease the
    # holder renews; `handing_over` on SIGTERM, `ready_at` once the new holder is READY), every
    # IDENTIFY (pacing per max_concurrency bucket and the per-shard crash-loop back-off, across
    # pods), the live processes for /status, and the commands already handled (a hand-over
    # overlaps two sessions on one shard for a moment: the first process to claim an event runs it).
    """
    CREATE TABLE shard_leases (
        shard_id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at REAL NOT NULL,
        taken_at REAL NOT NULL,
        handing_over INTEGER NOT NULL DEFAULT 0,
        ready_at REAL
    );
    CREATE TABLE identify_log (shard_id INTEGER NOT NULL, bucket INTEGER NOT NULL, at REAL NOT NULL,
        owner TEXT NOT NULL);
    CREATE INDEX identify_log_bucket ON identify_log(bucket, at);
    CREATE INDEX identify_log_shard ON identify_log(shard_id, at);
    CREATE TABLE processes (
        owner TEXT PRIMARY KEY,
        pod TEXT NOT NULL,
        zone TEXT NOT NULL,
        started_at REAL NOT NULL,
        seen_at REAL NOT NULL,
        shards TEXT NOT NULL,
        preferred TEXT NOT NULL,
        gateway INTEGER NOT NULL,
        jobs_running INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE handled_events (id TEXT PRIMARY KEY, owner TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX handled_events_at ON handled_events(at);
    """,
    # Per-server settings admins change with /config (bot.exts.config), and the thread a long
    # result was posted into (recorded so a retried or taken-over post reuses it).
    """
    CREATE TABLE guild_settings (
        guild_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at REAL NOT NULL,
        PRIMARY KEY (guild_id, name)
    );
    ALTER TABLE jobs ADD COLUMN thread_id TEXT;
    """,
    # What a plain-language request cost to route (an LLM router's tokens), billed with its job;
    # and when a meta row was written, so routing records (bot.router.records) can expire.
    """
    ALTER TABLE jobs ADD COLUMN routing_usd REAL;
    ALTER TABLE meta ADD COLUMN updated_at REAL;
    """,
)


def new_id(prefix: str = "") -> str:
    """Short and URL-safe: it is the idempotency key, the button custom_id part and the nonce base."""
    return prefix + secrets.token_urlsafe(6)


@dataclass
class Job:
    id: str
    command: str
    args: dict[str, Any]
    user_id: str
    guild_id: str | None
    channel_id: str | None
    state: JobState
    created_at: float
    frontend: str = "discord"
    origin_message_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    result_json: str | None = None
    status_message_id: str | None = None
    interaction_id: str | None = None
    interaction_token: str | None = None
    token_expires_at: float | None = None
    posted_at: float | None = None
    result_message_id: str | None = None
    attempt: int = 0
    total_usd: float | None = None
    agent: str | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    cancel_requested_by: str | None = None
    thread_id: str | None = None  # the thread holding a long result's later messages
    routing_usd: float | None = None  # what routing a plain-language request to it cost
    files: list[InputFile] = field(default_factory=list, repr=False)

    @property
    def result(self) -> AgentResult | None:
        return AgentResult.model_validate_json(self.result_json) if self.result_json else None

    def interaction_alive(self, now: float | None = None) -> bool:
        return bool(
            self.interaction_token and self.token_expires_at and (now or time.time()) < self.token_expires_at
        )


@dataclass
class Monitor:
    id: str
    url: str
    interval_s: float
    user_id: str
    guild_id: str | None
    channel_id: str
    created_at: float
    next_check_at: float
    last_checked_at: float | None = None
    fingerprint: str | None = None
    title: str | None = None
    text: str | None = None
    failures: int = 0
    last_error: str | None = None
    interval_text: str | None = None  # as the user wrote it ("2h"), echoed back
    selector: str | None = None  # a CSS selector: watch only that part of the page
    ignore_json: str | None = None  # JSON list of ignore rules; parsed per check (bot.monitors)
    job_id: str | None = None  # the check job in flight, if any
    last_change_at: float | None = None
    failing_since: float | None = None


@dataclass(frozen=True)
class ShardLease:
    """A shard's row in shard_leases: its gateway session belongs to `owner` until `expires_at`."""

    shard_id: int
    owner: str
    expires_at: float
    taken_at: float
    handing_over: bool
    ready_at: float | None


@dataclass(frozen=True)
class ProcessInfo:
    """A live bot process as /status lists it (its row is refreshed every shard tick)."""

    owner: str
    pod: str
    zone: str
    started_at: float
    seen_at: float
    shards: tuple[int, ...]
    gateway: bool
    jobs_running: int
    preferred: tuple[int, ...] = ()


@dataclass(frozen=True)
class MonitorCaps:
    """How many monitors may exist: per server, per DM channel, per user (everywhere)."""

    per_guild: int
    per_dm: int
    per_user: int


class MonitorRefused(Exception):
    """A new monitor was not stored; `reason` is one of: guild, dm, user, duplicate."""

    def __init__(self, reason: str, cap: int, existing: Monitor | None = None) -> None:
        super().__init__(f"monitor refused: {reason} (cap {cap})")
        self.reason = reason
        self.cap = cap
        self.existing = existing


class InvalidTransition(Exception):
    """A job was moved to a state its current state does not allow."""


class JobStore:
    """One per process; opened by the startup function and passed in.

    Every statement runs through a `Database` (bot.jobs.database): SQLite for one process, or
    PostgreSQL shared by any number of processes. What must be atomic across processes (admission,
    claiming a job, claiming a post, holding a duty) is one transaction under an advisory lock on
    PostgreSQL, and BEGIN IMMEDIATE (SQLite's one write lock) on SQLite."""

    def __init__(self, db: Database, owner: str | None = None) -> None:
        self._db = db
        # Who holds leases taken by this process: unique per process start, so a restarted pod
        # never mistakes the leases of its previous life for its own.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    @classmethod
    async def open(cls, url_or_path: str | Path, *, pool_max: int = 10, timeout_s: float = 10.0) -> JobStore:
        """`postgresql://…` opens a pool on PostgreSQL; `sqlite:///path`, a path or ':memory:' SQLite."""
        target = str(url_or_path)
        db: Database
        if target.startswith(("postgresql://", "postgres://")):
            db = await PostgresDatabase.open(target, max_size=pool_max, timeout_s=timeout_s)
        else:
            db = await SqliteDatabase.open(target.removeprefix("sqlite:///"))
        store = cls(db)
        try:
            await db.migrate(MIGRATIONS)
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    @property
    def dialect(self) -> str:
        return self._db.dialect

    @property
    def shared(self) -> bool:
        """True when other processes may hold leases on these jobs (PostgreSQL)."""
        return self._db.shared

    async def schema_version(self) -> int:
        row = await self._db.fetchone("SELECT MAX(version) FROM schema_version")
        return int(row[0] or 0) if row else 0

    async def writable(self) -> bool:
        """A real write that commits (/readyz); raises the backend's error when the database is gone."""
        await self.set_meta("probe", str(time.time()))
        return True

    # --------------------------------------------------------------- per-server settings

    async def guild_setting(self, guild_id: str, name: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT value FROM guild_settings WHERE guild_id = ? AND name = ?", (guild_id, name)
        )
        return str(row[0]) if row else None

    async def set_guild_setting(self, guild_id: str, name: str, value: str, *, by: str) -> None:
        await self._db.execute(
            "INSERT INTO guild_settings (guild_id, name, value, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, name) DO UPDATE SET value = excluded.value, "
            "set_by = excluded.set_by, set_at = excluded.set_at",
            (guild_id, name, value, by, time.time()),
        )

    # ------------------------------------------------------------------------- meta

    async def get_meta(self, key: str) -> str | None:
        row = await self._db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO meta(key, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, time.time()),
        )

    async def purge_meta(self, prefix: str, before: float) -> int:
        """Retention for meta rows under `prefix` (routing records) last written before `before`."""
        return await self._db.execute(
            "DELETE FROM meta WHERE key LIKE ? AND COALESCE(updated_at, 0) < ?", (prefix + "%", before)
        )

    # ------------------------------------------------------------------------- jobs

    async def create_job(
        self,
        *,
        command: str,
        args: dict[str, Any],
        user_id: str,
        guild_id: str | None = None,
        channel_id: str | None = None,
        files: Iterable[InputFile] = (),
        frontend: str = "discord",
        origin_message_id: str | None = None,
        interaction_id: str | None = None,
        interaction_token: str | None = None,
        token_expires_at: float | None = None,
        limits: UserLimits | None = None,
        agent: str | None = None,
        routing_usd: float | None = None,
    ) -> Job:
        """Admit and create a job in one transaction: with `limits`, raise UserLimitReached (and
        store nothing) when the user's queued and running jobs already fill them."""
        files = list(files)
        async with self._db.transaction() as tx:
            # PostgreSQL: a per-user advisory lock makes count-then-insert atomic against every
            # process (READ COMMITTED alone would let two both count 6 and both insert).
            # SQLite: the transaction already holds the one write lock.
            await tx.lock(f"spotrun:admit:{user_id}")
            if limits is not None:
                running, queued = await _active_of(tx, user_id)
                if running + queued >= limits.active:
                    raise UserLimitReached(running, queued, limits.max_running, limits.max_queued)
            # Built under the lock: created_at order is admission order (the queue's FIFO order).
            job = Job(
                id=new_id(),
                command=command,
                args=args,
                user_id=user_id,
                guild_id=guild_id,
                channel_id=channel_id,
                state=JobState.QUEUED,
                created_at=time.time(),
                frontend=frontend,
                origin_message_id=origin_message_id,
                interaction_id=interaction_id,
                interaction_token=interaction_token,
                token_expires_at=token_expires_at,
                routing_usd=routing_usd,
                files=files,
            )
            await tx.execute(
                _INSERT_JOB,
                (
                    job.id, command, json.dumps(args), user_id, guild_id, channel_id, frontend,
                    origin_message_id, job.state.value, job.created_at, interaction_id,
                    interaction_token, token_expires_at, agent, routing_usd,
                ),
            )  # fmt: skip
            await tx.executemany(
                _INSERT_FILE, [(job.id, i, f.name, f.content_type, f.data) for i, f in enumerate(files)]
            )
        return job

    async def get(self, job_id: str, *, with_files: bool = False) -> Job | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            return None
        job = _job(row)
        if with_files:
            rows = await self._db.fetch(
                "SELECT name, content_type, data FROM job_files WHERE job_id = ? ORDER BY idx", (job_id,)
            )
            job.files = [InputFile(name=r[0], content_type=r[1], data=bytes(r[2])) for r in rows]
        return job

    async def transition(
        self, job_id: str, state: JobState, *, owner: str | None = None, **fields: Any
    ) -> Job:
        """Move a job to `state`, checking the transition, and set extra columns atomically.

        With `owner`, a running job moves only while that process still holds its lease: a holder
        whose lease lapsed (and whose job another process took over) cannot finish it twice."""
        job = await self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        if state not in _NEXT.get(job.state, set()):
            raise InvalidTransition(f"job {job_id}: {job.state} -> {state}")
        now = time.time()
        if state is JobState.RUNNING:
            fields.setdefault("started_at", now)
            fields["attempt"] = job.attempt + 1
        if state.finished or state is JobState.QUEUED:
            fields.update(lease_owner=None, lease_expires_at=None)
        if state.finished:
            fields.setdefault("finished_at", now)
        cols = {"state": state.value, **fields}
        sets = ", ".join(f"{c} = ?" for c in cols)
        where, params = "id = ? AND state = ?", [job_id, job.state.value]
        if owner is not None and job.state is JobState.RUNNING:
            where, params = where + " AND lease_owner = ?", [*params, owner]
        # The WHERE on the old state makes a concurrent transition lose instead of overwrite.
        update = f"UPDATE jobs SET {sets} WHERE {where} RETURNING *"  # noqa: S608 - column names are ours
        if state is JobState.CANCELLED:
            async with self._db.transaction() as tx:
                row = await tx.fetchone(update, (*cols.values(), *params))
                if row is not None:
                    # Nobody will post a cancelled job: its inputs are not needed any more.
                    await tx.execute("DELETE FROM job_files WHERE job_id = ?", (job_id,))
        else:
            row = await self._db.fetchone(update, (*cols.values(), *params))
        if row is None:
            raise InvalidTransition(f"job {job_id} changed state (or holder) concurrently")
        return _job(row)

    async def update(self, job_id: str, **fields: Any) -> None:
        """Set bookkeeping columns (status message id, cost) without a state change."""
        sets = ", ".join(f"{c} = ?" for c in fields)
        await self._db.execute(
            f"UPDATE jobs SET {sets} WHERE id = ?",  # noqa: S608 - column names are ours
            (*fields.values(), job_id),
        )

    async def user_jobs(self, user_id: str, limit: int = 10) -> list[Job]:
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE user_id = ? ORDER BY created_at DESC LIMIT ?", (user_id, limit)
        )
        return [_job(r) for r in rows]

    async def jobs_in(self, *states: JobState) -> list[Job]:
        marks = ", ".join("?" for _ in states)
        rows = await self._db.fetch(
            f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created_at",  # noqa: S608
            [s.value for s in states],
        )
        return [_job(r) for r in rows]

    async def unposted(self, finished_before: float | None = None) -> list[Job]:
        """Finished jobs whose result never reached the user and whose delivery nobody holds now."""
        now = time.time()
        rows = await self._db.fetch(
            # posted_at IS NULL matches the partial index jobs_unposted: never a scan of history.
            "SELECT * FROM jobs WHERE posted_at IS NULL AND state IN ('succeeded', 'failed')"
            " AND finished_at <= ? AND (post_expires_at IS NULL OR post_expires_at < ?)"
            " ORDER BY finished_at",
            (now if finished_before is None else finished_before, now),
        )
        return [_job(r) for r in rows]

    # ------------------------------------------------------------- leases (any process runs any job)

    async def claim(
        self,
        *,
        lease_s: float,
        frontends: Collection[str],
        agent_of: Callable[[str], str],
        agent_limits: dict[str, int],
        max_running_per_user: int,
    ) -> Job | None:
        """Take the next job this process may run, or None: a running job whose holder's lease
        lapsed first (taken over, same id: the agent call's idempotency key), else the next queued
        job in fair order that its agent's `max_concurrency` and its user's running slots allow,
        counted over every process's live leases. One claim at a time per database (an advisory
        lock on PostgreSQL, the write lock on SQLite): the counts and the claim cannot interleave."""
        marks = ", ".join("?" for _ in frontends)
        async with self._db.transaction() as tx:
            await tx.lock("spotrun:claim")
            now = time.time()
            live = await tx.fetch(
                "SELECT id, user_id, command, agent FROM jobs WHERE state = 'running'"
                " AND lease_expires_at >= ?",
                (now,),
            )
            running = [Ticket(r[0], r[1], r[3] or agent_of(r[2])) for r in live]
            per_agent = Counter(t.agent for t in running)
            lapsed = await tx.fetch(
                "SELECT id, command, agent FROM jobs WHERE state = 'running'"  # noqa: S608 - placeholders
                f" AND (lease_expires_at IS NULL OR lease_expires_at < ?) AND frontend IN ({marks})"
                " ORDER BY started_at",
                (now, *frontends),
            )
            for r in lapsed:
                agent = r[2] or agent_of(r[1])
                if per_agent[agent] < agent_limits.get(agent, 1):
                    return await self._take(tx, r[0], "running", now, lease_s)
            # Only the head of each user's FIFO can start (a user never overtakes their own older
            # job): one row per waiting user, not the whole queue.
            heads = await tx.fetch(_QUEUED.format(frontends=marks) + _HEADS_ONLY + _OLDEST_FIRST, frontends)
            queue = fair_queue(
                heads, await _served(tx, heads), running, agent_of, agent_limits, max_running_per_user
            )
            ticket = queue.next_ready()
            if ticket is None:
                return None
            return await self._take(tx, ticket.job_id, "queued", now, lease_s)

    async def _take(self, tx: Conn, job_id: str, state: str, now: float, lease_s: float) -> Job:
        row = await tx.fetchone(
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, started_at = ?,"
            " attempt = attempt + 1 WHERE id = ? AND state = ? RETURNING *",
            (self.owner, now + lease_s, now, job_id, state),
        )
        assert row is not None  # under the claim lock nobody else moved it
        return _job(row)

    async def renew(self, lease_s: float, job_ids: Collection[str]) -> dict[str, str | None]:
        """Extend this process's leases on `job_ids` (the jobs it is running: a lease whose task
        died with an error lapses and the job is taken over); returns {job id: who asked to cancel
        it, or None} for the jobs still held — one missing was finished, or taken over."""
        if not job_ids:
            return {}
        marks = ", ".join("?" for _ in job_ids)
        rows = await self._db.fetch(
            "UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND state = 'running'"  # noqa: S608
            f" AND id IN ({marks}) RETURNING id, cancel_requested_by",
            (time.time() + lease_s, self.owner, *job_ids),
        )
        return {str(r[0]): r[1] for r in rows}

    async def taken_over(self, job_ids: Collection[str]) -> list[str]:
        """Of these jobs, those unfinished and not held by this process (another one took them)."""
        if not job_ids:
            return []
        marks = ", ".join("?" for _ in job_ids)
        rows = await self._db.fetch(
            f"SELECT id FROM jobs WHERE id IN ({marks}) AND state IN ('queued', 'running')"  # noqa: S608
            " AND lease_owner IS DISTINCT FROM ?",
            (*job_ids, self.owner),
        )
        return [str(r[0]) for r in rows]

    async def release(self, job_ids: Collection[str] = ()) -> int:
        """Hand running jobs and unfinished posts back (shutdown): another process resumes them at once."""
        marks = ", ".join("?" for _ in job_ids)
        only = f" AND id IN ({marks})" if job_ids else ""
        await self._db.execute(
            "UPDATE jobs SET post_expires_at = NULL WHERE post_owner = ? AND posted_at IS NULL", (self.owner,)
        )
        return await self._db.execute(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL"  # noqa: S608
            f" WHERE lease_owner = ? AND state = 'running'{only}",
            (self.owner, *job_ids),
        )

    async def expire_leases(self) -> int:
        """Single-process store (SQLite), at start: every lease left is a dead process's; end them now."""
        await self._db.execute("UPDATE jobs SET post_expires_at = NULL WHERE posted_at IS NULL")
        return await self._db.execute("UPDATE jobs SET lease_expires_at = 0 WHERE state = 'running'")

    async def request_cancel(self, job_id: str, by: str) -> bool:
        """Ask the holder of a running job to cancel it (it sees the request on its next renewal)."""
        return (
            await self._db.execute(
                "UPDATE jobs SET cancel_requested_by = ? WHERE id = ? AND state = 'running'", (by, job_id)
            )
            == 1
        )

    async def queue_order(
        self,
        *,
        frontends: Collection[str],
        agent_of: Callable[[str], str],
        agent_limits: dict[str, int],
        max_running_per_user: int,
    ) -> FairQueue:
        """The queue as every process sees it (for positions): the same fair order claims follow."""
        marks = ", ".join("?" for _ in frontends)
        now = time.time()
        live = await self._db.fetch(
            "SELECT id, user_id, command, agent FROM jobs WHERE state = 'running' AND lease_expires_at >= ?",
            (now,),
        )
        running = [Ticket(r[0], r[1], r[3] or agent_of(r[2])) for r in live]
        rows = await self._db.fetch(_QUEUED.format(frontends=marks) + _OLDEST_FIRST, tuple(frontends))
        served = await _served(self._db, rows)
        return fair_queue(rows, served, running, agent_of, agent_limits, max_running_per_user)

    # ------------------------------------------------------------------- outbox (post once)

    async def claim_post(self, job_id: str, hold_s: float) -> bool:
        """Claim the delivery of a job's result: True for exactly one process until it posts or
        its claim lapses (then another may post again: the job-derived nonce dedups at Discord)."""
        now = time.time()
        return (
            await self._db.execute(
                "UPDATE jobs SET post_owner = ?, post_expires_at = ? WHERE id = ? AND posted_at IS NULL"
                " AND (post_expires_at IS NULL OR post_expires_at < ? OR post_owner = ?)",
                (self.owner, now + hold_s, job_id, now, self.owner),
            )
            == 1
        )

    async def posted(self, job_id: str, message_id: str | None) -> None:
        """Record the post and its message id in one transaction, and drop the job's inputs."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET posted_at = ?, result_message_id = ?, post_expires_at = NULL"
                " WHERE id = ? AND posted_at IS NULL",
                (time.time(), message_id, job_id),
            )
            await tx.execute("DELETE FROM job_files WHERE job_id = ?", (job_id,))

    async def release_post(self, job_id: str) -> None:
        await self._db.execute(
            "UPDATE jobs SET post_expires_at = NULL WHERE id = ? AND post_owner = ? AND posted_at IS NULL",
            (job_id, self.owner),
        )

    async def purge_inputs(self, finished_before: float) -> int:
        """Retention: inputs of jobs finished long ago (posted or not) are dropped."""
        # Driven by job_files (only jobs in flight, small), not by the whole job history.
        return await self._db.execute(
            "DELETE FROM job_files WHERE (SELECT j.finished_at FROM jobs j WHERE j.id = job_files.job_id"
            " AND j.state IN ('succeeded', 'failed', 'cancelled')) < ?",
            (finished_before,),
        )

    async def input_bytes(self) -> int:
        row = await self._db.fetchone("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM job_files")
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ run-once duties

    async def hold_duty(self, name: str, ttl_s: float) -> bool:
        """Take or keep the duty `name` (monitor scheduler, retention…): True for exactly one live
        process; it moves to another once the holder stops renewing for `ttl_s`."""
        now = time.time()
        return (
            await self._db.execute(
                "INSERT INTO duties (name, owner, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"
                " WHERE duties.owner = excluded.owner OR duties.expires_at < ?",
                (name, self.owner, now + ttl_s, now),
            )
            == 1
        )

    async def drop_duties(self) -> None:
        await self._db.execute("DELETE FROM duties WHERE owner = ?", (self.owner,))

    # ------------------------------------------------------------ shard leases (bot.shards)

    async def shard_leases(self) -> dict[int, ShardLease]:
        rows = await self._db.fetch("SELECT * FROM shard_leases ORDER BY shard_id")
        return {
            int(r["shard_id"]): ShardLease(
                int(r["shard_id"]), str(r["owner"]), float(r["expires_at"]), float(r["taken_at"]),
                bool(r["handing_over"]), r["ready_at"],
            )
            for r in rows
        }  # fmt: skip

    async def take_shard(self, shard_id: int, ttl_s: float) -> bool:
        """Take a shard that has no holder, whose holder stopped renewing, or whose holder is
        handing it over (SIGTERM): True for exactly one process."""
        now = time.time()
        return (
            await self._db.execute(
                "INSERT INTO shard_leases (shard_id, owner, expires_at, taken_at, handing_over, ready_at)"
                " VALUES (?, ?, ?, ?, 0, NULL)"
                " ON CONFLICT (shard_id) DO UPDATE SET owner = excluded.owner,"
                " expires_at = excluded.expires_at, taken_at = excluded.taken_at, handing_over = 0,"
                " ready_at = NULL"
                " WHERE shard_leases.expires_at < ?"
                " OR (shard_leases.handing_over = 1 AND shard_leases.owner <> excluded.owner)",
                (shard_id, self.owner, now + ttl_s, now, now),
            )
            == 1
        )

    async def renew_shards(self, shard_ids: Collection[int], ttl_s: float) -> set[int]:
        """Extend this process's leases; returns the shards it still holds (another process may
        have taken one over while this one was stalled)."""
        if not shard_ids:
            return set()
        marks = ", ".join("?" for _ in shard_ids)
        rows = await self._db.fetch(
            f"UPDATE shard_leases SET expires_at = ? WHERE owner = ? AND shard_id IN ({marks})"  # noqa: S608
            " RETURNING shard_id",
            (time.time() + ttl_s, self.owner, *shard_ids),
        )
        return {int(r[0]) for r in rows}

    async def shard_ready(self, shard_id: int) -> None:
        """This process's session on the shard is READY: a holder handing it over may now close."""
        await self._db.execute(
            "UPDATE shard_leases SET ready_at = ? WHERE shard_id = ? AND owner = ?",
            (time.time(), shard_id, self.owner),
        )

    async def hand_over_shards(self, shard_ids: Collection[int] | None = None) -> int:
        """Offer shards this process holds (all: SIGTERM) to another process; it keeps them until
        the taker is READY."""
        if shard_ids is None:
            return await self._db.execute(
                "UPDATE shard_leases SET handing_over = 1 WHERE owner = ?", (self.owner,)
            )
        changed = 0
        for shard_id in shard_ids:
            changed += await self._db.execute(
                "UPDATE shard_leases SET handing_over = 1 WHERE owner = ? AND shard_id = ?",
                (self.owner, shard_id),
            )
        return changed

    async def withdraw_hand_over(self, shard_id: int) -> None:
        await self._db.execute(
            "UPDATE shard_leases SET handing_over = 0 WHERE owner = ? AND shard_id = ?",
            (self.owner, shard_id),
        )

    async def release_shards(self, shard_ids: Collection[int] | None = None) -> None:
        """Let this process's leases (all, or those shards) lapse now: any live process takes them
        at its next tick, as after a death, without waiting out a lease."""
        if shard_ids is None:
            await self._db.execute(
                "UPDATE shard_leases SET expires_at = 0, handing_over = 0 WHERE owner = ?", (self.owner,)
            )
            return
        for shard_id in shard_ids:
            await self._db.execute(
                "UPDATE shard_leases SET expires_at = 0, handing_over = 0 WHERE owner = ? AND shard_id = ?",
                (self.owner, shard_id),
            )

    async def forget_shard_leases(self) -> None:
        """SQLite (one process by definition): leases left by a dead previous process are void."""
        await self._db.execute("DELETE FROM shard_leases")

    async def reserve_identify(
        self, shard_id: int, bucket: int, interval_s: float, backoff: Callable[[int], float],
        window_s: float,
    ) -> float:  # fmt: skip
        """Book this shard's next IDENTIFY; returns the seconds to wait before sending it.

        One IDENTIFY per `interval_s` per max_concurrency bucket across every process (a rolling
        restart queues up instead of bursting), and after `backoff(n)` since the shard's last
        IDENTIFY when it had n within `window_s` (the crash-loop back-off, per shard, across pods)."""
        now = time.time()
        async with self._db.transaction() as tx:
            await tx.lock("spotrun:identify")
            recent = await tx.fetch(
                "SELECT at FROM identify_log WHERE shard_id = ? AND at > ? ORDER BY at",
                (shard_id, now - window_s),
            )
            at = max(now, float(recent[-1][0]) + backoff(len(recent))) if recent else now
            # The first slot from `at` on that is `interval_s` clear of every booked IDENTIFY in the
            # bucket (a shard backing off for minutes does not hold up the others).
            booked = await tx.fetch(
                "SELECT at FROM identify_log WHERE bucket = ? AND at > ? ORDER BY at",
                (bucket, at - interval_s),
            )
            for (other,) in booked:
                if at - interval_s < float(other) < at + interval_s:
                    at = float(other) + interval_s
            await tx.execute(
                "INSERT INTO identify_log (shard_id, bucket, at, owner) VALUES (?, ?, ?, ?)",
                (shard_id, bucket, at, self.owner),
            )
            # A day of history: Discord's budget is ~1000 IDENTIFYs per 24 h (/status shows it).
            await tx.execute("DELETE FROM identify_log WHERE at < ?", (now - 86_400,))
        return at - now

    async def identifies_since(self, since: float) -> dict[int, int]:
        rows = await self._db.fetch(
            "SELECT shard_id, COUNT(*) FROM identify_log WHERE at >= ? GROUP BY shard_id", (since,)
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def beat_process(
        self, *, pod: str, zone: str, started_at: float, shards: Collection[int], gateway: bool,
        jobs_running: int, preferred: Collection[int] = (),
    ) -> None:  # fmt: skip
        await self._db.execute(
            "INSERT INTO processes (owner, pod, zone, started_at, seen_at, shards, preferred, gateway,"
            " jobs_running) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at, shards = excluded.shards,"
            " jobs_running = excluded.jobs_running, zone = excluded.zone, preferred = excluded.preferred",
            (self.owner, pod, zone, started_at, time.time(), _ints(shards), _ints(preferred),
             int(gateway), jobs_running),
        )  # fmt: skip

    async def processes(self, seen_within_s: float) -> list[ProcessInfo]:
        """Processes that beat within `seen_within_s`; older rows (dead processes) are dropped."""
        now = time.time()
        await self._db.execute("DELETE FROM processes WHERE seen_at < ?", (now - 10 * seen_within_s,))
        rows = await self._db.fetch(
            "SELECT * FROM processes WHERE seen_at >= ? ORDER BY pod, started_at", (now - seen_within_s,)
        )
        return [
            ProcessInfo(
                str(r["owner"]), str(r["pod"]), str(r["zone"]), float(r["started_at"]), float(r["seen_at"]),
                _parse_ints(r["shards"]), bool(r["gateway"]), int(r["jobs_running"]),
                _parse_ints(r["preferred"]),
            )
            for r in rows
        ]  # fmt: skip

    async def drop_process(self) -> None:
        await self._db.execute("DELETE FROM processes WHERE owner = ?", (self.owner,))

    async def claim_event(self, event_id: str) -> bool:
        """True for the first process to claim a Discord event (message or interaction id): while a
        shard is handed over, both sessions receive it, and only one may act on it."""
        return (
            await self._db.execute(
                "INSERT INTO handled_events (id, owner, at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (event_id, self.owner, time.time()),
            )
            == 1
        )

    async def purge_events(self, before: float) -> int:
        return await self._db.execute("DELETE FROM handled_events WHERE at < ?", (before,))

    # ---------------------------------------------------------------- ledger (bot.billing.ledger)

    async def record_billing(self, job_id: str, agent: str, cpu: float) -> None:
        """agent and billed_s belong to the ledger; billed_s is exact: vcpu_s = billed_s × cpu."""
        await self._db.execute(
            "UPDATE jobs SET agent = ?, billed_s = ROUND(CAST(vcpu_s / ? AS NUMERIC), 3) WHERE id = ?",
            (agent, cpu, job_id),
        )

    async def read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """A read-only query in SQLite spelling with :named parameters (the ledger's month reports,
        whose text is in bot.billing.ledger; operators' and tests' checks)."""
        params = params or {}
        return await self._db.fetch(sql, params)

    async def spent(self, guild_id: str, user_id: str | None, start: float, end: float) -> float:
        sql = "SELECT SUM(total_usd) FROM jobs WHERE guild_id = ? AND finished_at >= ? AND finished_at < ?"
        params: tuple[Any, ...] = (guild_id, start, end)
        if user_id is not None:
            sql, params = sql + " AND user_id = ?", (*params, user_id)
        row = await self._db.fetchone(sql, params)
        return float(row[0] or 0.0) if row else 0.0

    async def set_budget(self, guild_id: str, user_id: str | None, amount_usd: float, by: str) -> None:
        await self._db.execute(
            """INSERT INTO budgets (guild_id, user_id, amount_usd, set_by, set_at, warned_month)
               VALUES (?, ?, ?, ?, ?, NULL)
               ON CONFLICT (guild_id, user_id) DO UPDATE SET amount_usd = excluded.amount_usd,
                   set_by = excluded.set_by, set_at = excluded.set_at, warned_month = NULL""",
            (guild_id, user_id or "", amount_usd, by, time.time()),
        )

    async def lift_budget(self, guild_id: str, user_id: str | None) -> bool:
        return (
            await self._db.execute(
                "DELETE FROM budgets WHERE guild_id = ? AND user_id = ?", (guild_id, user_id or "")
            )
            == 1
        )

    async def budgets(self, guild_id: str) -> list[tuple[str, float, str | None]]:
        """(user id or '' for the guild, amount, month last warned) of a guild's budgets."""
        rows = await self._db.fetch(
            "SELECT user_id, amount_usd, warned_month FROM budgets WHERE guild_id = ? ORDER BY user_id",
            (guild_id,),
        )
        return [(str(r[0]), float(r[1]), r[2]) for r in rows]

    async def claim_budget_warning(self, guild_id: str, user_id: str | None, month: str) -> bool:
        """Claim this month's warning for a budget: True for exactly one caller, in any process."""
        return (
            await self._db.execute(
                "UPDATE budgets SET warned_month = ? WHERE guild_id = ? AND user_id = ?"
                " AND warned_month IS DISTINCT FROM ?",
                (month, guild_id, user_id or "", month),
            )
            == 1
        )

    # --------------------------------------------------------------------- monitors

    async def add_monitor(
        self,
        *,
        url: str,
        interval_s: float,
        user_id: str,
        guild_id: str | None,
        channel_id: str,
        caps: MonitorCaps,
        interval_text: str | None = None,
        selector: str | None = None,
        ignore_json: str | None = None,
    ) -> Monitor:
        """Store a monitor unless a cap or a duplicate forbids it: counts and insert in one
        transaction under one lock, so two concurrent commands (or processes) cannot both pass a
        cap. Raises MonitorRefused naming the reason."""
        now = time.time()
        mon = Monitor(
            new_id("m"), url, interval_s, user_id, guild_id, channel_id, now, now,
            interval_text=interval_text, selector=selector, ignore_json=ignore_json,
        )  # fmt: skip
        async with self._db.transaction() as tx:
            await tx.lock("spotrun:monitors")
            refusal = await _refusal(tx, url, user_id, guild_id, channel_id, selector, caps)
            if refusal is not None:
                raise refusal
            await tx.execute(
                """INSERT INTO monitors (id, url, interval_s, user_id, guild_id, channel_id, created_at,
                       next_check_at, interval_text, selector, ignore_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (mon.id, url, interval_s, user_id, guild_id, channel_id, now, now, interval_text, selector,
                 ignore_json),
            )  # fmt: skip
        return mon

    async def monitors(self, guild_id: str | None = None, *, channel_id: str | None = None) -> list[Monitor]:
        """A server's monitors; with `channel_id` and no guild, the monitors of that DM channel;
        with neither, every monitor (the scheduler)."""
        sql, params = "SELECT * FROM monitors", tuple[str, ...]()
        if guild_id is not None:
            sql, params = sql + " WHERE guild_id = ?", (guild_id,)
        elif channel_id is not None:
            sql, params = sql + " WHERE guild_id IS NULL AND channel_id = ?", (channel_id,)
        return [_monitor(r) for r in await self._db.fetch(sql + " ORDER BY created_at", params)]

    async def get_monitor(self, monitor_id: str) -> Monitor | None:
        row = await self._db.fetchone("SELECT * FROM monitors WHERE id = ?", (monitor_id,))
        return _monitor(row) if row else None

    async def monitor_for_job(self, job_id: str) -> Monitor | None:
        """The monitor whose check `job_id` is (None once the check was handled, or if stale)."""
        row = await self._db.fetchone("SELECT * FROM monitors WHERE job_id = ?", (job_id,))
        return _monitor(row) if row else None

    async def due_monitors(self, now: float) -> list[Monitor]:
        rows = await self._db.fetch(
            "SELECT * FROM monitors WHERE next_check_at <= ? ORDER BY next_check_at", (now,)
        )
        return [_monitor(r) for r in rows]

    async def update_monitor(self, monitor_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in fields)
        await self._db.execute(
            f"UPDATE monitors SET {sets} WHERE id = ?",  # noqa: S608 - column names are ours
            (*fields.values(), monitor_id),
        )

    async def finish_monitor_check(self, monitor_id: str, job_id: str, **fields: Any) -> bool:
        """Record a check's outcome only if `job_id` is still the monitor's pending check: a late or
        replayed outcome (after a restart) of an older check changes nothing. True if recorded."""
        sets = ", ".join(f"{c} = ?" for c in {**fields, "job_id": None})
        changed = await self._db.execute(
            f"UPDATE monitors SET {sets} WHERE id = ? AND job_id = ?",  # noqa: S608 - column names are ours
            (*fields.values(), None, monitor_id, job_id),
        )
        return changed == 1

    async def remove_monitor(self, monitor_id: str) -> bool:
        return await self._db.execute("DELETE FROM monitors WHERE id = ?", (monitor_id,)) == 1


async def _active_of(db: Conn, user_id: str) -> tuple[int, int]:
    """(running, queued) jobs of a user, across every process that shares this store."""
    rows = await db.fetch(
        "SELECT state, COUNT(*) FROM jobs WHERE user_id = ? AND state IN ('running', 'queued')"
        " GROUP BY state",
        (user_id,),
    )
    counts = {str(r[0]): int(r[1]) for r in rows}
    return counts.get("running", 0), counts.get("queued", 0)


async def _refusal(
    db: Conn, url: str, user_id: str, guild_id: str | None, channel_id: str, selector: str | None,
    caps: MonitorCaps,
) -> MonitorRefused | None:  # fmt: skip
    """Why a new monitor may not be stored, or None if it may."""
    row = await db.fetchone(
        "SELECT * FROM monitors WHERE channel_id = ? AND url = ? AND COALESCE(selector, '') = ?",
        (channel_id, url, selector or ""),
    )
    if row is not None:
        return MonitorRefused("duplicate", 0, _monitor(row))
    if guild_id is None:
        if await _count(db, "guild_id IS NULL AND channel_id = ?", channel_id) >= caps.per_dm:
            return MonitorRefused("dm", caps.per_dm)
    elif await _count(db, "guild_id = ?", guild_id) >= caps.per_guild:
        return MonitorRefused("guild", caps.per_guild)
    if await _count(db, "user_id = ?", user_id) >= caps.per_user:
        return MonitorRefused("user", caps.per_user)
    return None


async def _count(db: Conn, where: str, *params: Any) -> int:
    row = await db.fetchone(f"SELECT COUNT(*) FROM monitors WHERE {where}", params)  # noqa: S608
    return int(row[0]) if row else 0


async def _served(db: Conn, rows: list[Any]) -> dict[str, float]:
    """When each of these rows' users last had a job started (their place in the rotation)."""
    users = sorted({str(r[1]) for r in rows})
    if not users:
        return {}
    marks = ", ".join("?" for _ in users)
    found = await db.fetch(
        f"SELECT user_id, MAX(started_at) FROM jobs WHERE user_id IN ({marks})"  # noqa: S608
        " AND started_at IS NOT NULL GROUP BY user_id",
        users,
    )
    return {str(r[0]): float(r[1]) for r in found}


def fair_queue(
    queued: Iterable[Any],
    served: dict[str, float],
    running: Iterable[Ticket],
    agent_of: Callable[[str], str],
    agent_limits: dict[str, int],
    max_running_per_user: int,
) -> FairQueue:
    """A FairQueue rebuilt from the store (rows of _QUEUED, oldest first): users take turns in the
    order of their last start (or, if later, when their oldest queued job arrived) — the rotation
    the in-memory queue keeps, derived from columns every process sees."""
    rows = list(queued)
    turn: dict[str, float] = {}
    for r in rows:  # rows are oldest first: the first row of a user is the head of their FIFO
        turn.setdefault(r[1], max(served.get(r[1], 0.0), r[4]))
    queue = FairQueue(agent_limits, max_running_per_user, max_queued_per_user=0)
    for t in running:
        queue.mark_running(t)
    for r in sorted(rows, key=lambda r: (turn[r[1]], r[1], r[4], r[0])):
        queue.add(Ticket(r[0], r[1], r[3] or agent_of(r[2])))
    return queue


_JOB_COLUMNS = """id, command, args_json, user_id, guild_id, channel_id, frontend, origin_message_id, state,
    created_at, interaction_id, interaction_token, token_expires_at, agent, routing_usd"""
_INSERT_JOB = f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_INSERT_FILE = "INSERT INTO job_files (job_id, idx, name, content_type, data) VALUES (?, ?, ?, ?, ?)"
# Queued jobs, oldest first; `{frontends}` is filled with placeholders.
_QUEUED = """SELECT q.id, q.user_id, q.command, q.agent, q.created_at FROM jobs q
    WHERE q.state = 'queued' AND q.frontend IN ({frontends})"""
_HEADS_ONLY = """ AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.state = 'queued' AND o.user_id = q.user_id
    AND (o.created_at < q.created_at OR (o.created_at = q.created_at AND o.id < q.id)))"""
_OLDEST_FIRST = " ORDER BY q.created_at, q.id"


def _ints(values: Collection[int]) -> str:
    return ",".join(map(str, sorted(values)))


def _parse_ints(text: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in str(text).split(",") if x)


def _monitor(row: Any) -> Monitor:
    return Monitor(**dict(row))


def _job(row: Any) -> Job:
    d = dict(row)
    return Job(
        id=d["id"],
        command=d["command"],
        args=json.loads(d["args_json"]),
        user_id=d["user_id"],
        guild_id=d["guild_id"],
        channel_id=d["channel_id"],
        state=JobState(d["state"]),
        created_at=d["created_at"],
        frontend=d["frontend"],
        origin_message_id=d["origin_message_id"],
        started_at=d["started_at"],
        finished_at=d["finished_at"],
        error_code=d["error_code"],
        error_message=d["error_message"],
        result_json=d["result_json"],
        status_message_id=d["status_message_id"],
        interaction_id=d["interaction_id"],
        interaction_token=d["interaction_token"],
        token_expires_at=d["token_expires_at"],
        posted_at=d["posted_at"],
        result_message_id=d["result_message_id"],
        attempt=d["attempt"],
        total_usd=d["total_usd"],
        agent=d["agent"],
        lease_owner=d["lease_owner"],
        lease_expires_at=d["lease_expires_at"],
        cancel_requested_by=d["cancel_requested_by"],
        thread_id=d.get("thread_id"),
        routing_usd=d.get("routing_usd"),
    )
