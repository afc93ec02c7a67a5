"""The job store: every command becomes a row here before anything is dispatched (SQLite, WAL)."""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosqlite

from bot.jobs.limits import UserLimitReached, UserLimits
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
    # The cost ledger (bot.ledger): which agent billed a job, for how long, and monthly budgets.
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

    The connection is in autocommit mode: a statement is its own transaction unless a method
    opens one explicitly, and a failed write never leaves one open."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._admit_lock = asyncio.Lock()  # one admission at a time in this process

    @classmethod
    async def open(cls, path: str | Path) -> JobStore:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): no implicit transactions, so an explicit BEGIN never
        # collides with another coroutine's half-finished one on this shared connection.
        db = await aiosqlite.connect(str(path), isolation_level=None)
        db.row_factory = aiosqlite.Row
        # WAL: readers never block the writer; NORMAL sync is durable enough with WAL.
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA foreign_keys=ON")
        store = cls(db)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        """For read models over these tables and their own tables (bot.ledger)."""
        return self._db

    async def _migrate(self) -> None:
        await self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = row[0] or 0 if row else 0
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            await self._db.executescript(
                f"BEGIN; {script}; INSERT INTO schema_version VALUES ({version}); COMMIT;"  # noqa: S608
            )

    async def schema_version(self) -> int:
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0] or 0) if row else 0

    async def writable(self) -> bool:
        try:
            await self._db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('probe', ?)", (str(time.time()),)
            )
            await self._db.commit()
        except sqlite3.Error:
            return False
        return True

    # ------------------------------------------------------------------------- meta

    async def get_meta(self, key: str) -> str | None:
        async with self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
        await self._db.commit()

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
    ) -> Job:
        """Admit and create a job in one transaction: with `limits`, raise UserLimitReached (and
        store nothing) when the user's queued and running jobs already fill them."""
        async with self._admit_lock:
            # Built under the lock: created_at order is admission order (the order jobs resume in).
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
                files=list(files),
            )
            db = self._db
            row = (
                job.id,
                command,
                json.dumps(args),
                user_id,
                guild_id,
                channel_id,
                frontend,
                origin_message_id,
                job.state.value,
                job.created_at,
                interaction_id,
                interaction_token,
                token_expires_at,
            )
            # The transaction keeps the job and its files together; the admission itself is the
            # one INSERT … SELECT … WHERE: counting and inserting in a single statement is atomic
            # against every writer, other processes sharing the file included (SQLite takes the
            # write lock before that statement reads).
            await db.execute("BEGIN IMMEDIATE")
            try:
                if limits is None:
                    cur = await db.execute(_INSERT_JOB, row)
                else:
                    cur = await db.execute(_INSERT_JOB_UNDER_LIMIT, (*row, user_id, limits.active))
                admitted = cur.rowcount == 1
                if admitted:
                    await db.executemany(
                        _INSERT_FILE,
                        [(job.id, i, f.name, f.content_type, f.data) for i, f in enumerate(job.files)],
                    )
            except BaseException:
                # Not a ROLLBACK: other coroutines' statements on this connection may have run
                # inside this transaction, and their writes must stay. Undo only our own.
                await asyncio.shield(self._undo_create(job.id))
                raise
            await db.commit()
            if not admitted:
                assert limits is not None
                running, queued = await self._active_of(db, user_id)
                raise UserLimitReached(running, queued, limits.max_running, limits.max_queued)
        return job

    async def _undo_create(self, job_id: str) -> None:
        await self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))  # files cascade
        await self._db.commit()

    @staticmethod
    async def _active_of(db: aiosqlite.Connection, user_id: str) -> tuple[int, int]:
        """(running, queued) jobs of a user, across every process that shares this store."""
        async with db.execute(
            "SELECT state, COUNT(*) FROM jobs WHERE user_id = ? AND state IN ('running', 'queued') "
            "GROUP BY state",
            (user_id,),
        ) as cur:
            counts = {str(r[0]): int(r[1]) async for r in cur}
        return counts.get("running", 0), counts.get("queued", 0)

    async def get(self, job_id: str, *, with_files: bool = False) -> Job | None:
        async with self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        job = _job(row)
        if with_files:
            async with self._db.execute(
                "SELECT name, content_type, data FROM job_files WHERE job_id = ? ORDER BY idx", (job_id,)
            ) as cur:
                job.files = [InputFile(name=r[0], content_type=r[1], data=r[2]) async for r in cur]
        return job

    async def transition(self, job_id: str, state: JobState, **fields: Any) -> Job:
        """Move a job to `state`, checking the transition, and set extra columns atomically."""
        job = await self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        if state not in _NEXT.get(job.state, set()):
            raise InvalidTransition(f"job {job_id}: {job.state} -> {state}")
        now = time.time()
        if state is JobState.RUNNING:
            fields.setdefault("started_at", now)
            fields["attempt"] = job.attempt + 1
        if state.finished:
            fields.setdefault("finished_at", now)
        cols = {"state": state.value, **fields}
        sets = ", ".join(f"{c} = ?" for c in cols)
        # The WHERE on the old state makes a concurrent transition lose instead of overwrite.
        cur = await self._db.execute(
            f"UPDATE jobs SET {sets} WHERE id = ? AND state = ?",  # noqa: S608 - column names are ours
            (*cols.values(), job_id, job.state.value),
        )
        await self._db.commit()
        if cur.rowcount != 1:
            raise InvalidTransition(f"job {job_id} changed state concurrently")
        updated = await self.get(job_id)
        assert updated is not None
        return updated

    async def update(self, job_id: str, **fields: Any) -> None:
        """Set bookkeeping columns (status message id, posted_at, cost) without a state change."""
        sets = ", ".join(f"{c} = ?" for c in fields)
        await self._db.execute(
            f"UPDATE jobs SET {sets} WHERE id = ?",  # noqa: S608 - column names are ours
            (*fields.values(), job_id),
        )
        await self._db.commit()

    async def user_jobs(self, user_id: str, limit: int = 10) -> list[Job]:
        async with self._db.execute(
            "SELECT * FROM jobs WHERE user_id = ? ORDER BY created_at DESC LIMIT ?", (user_id, limit)
        ) as cur:
            return [_job(r) async for r in cur]

    async def jobs_in(self, *states: JobState) -> list[Job]:
        marks = ", ".join("?" for _ in states)
        async with self._db.execute(
            f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created_at",  # noqa: S608
            [s.value for s in states],
        ) as cur:
            return [_job(r) async for r in cur]

    async def unposted(self) -> list[Job]:
        """Finished jobs whose result never reached the user (the next issue posts them on start)."""
        async with self._db.execute(
            "SELECT * FROM jobs WHERE state IN ('succeeded', 'failed') AND posted_at IS NULL"
        ) as cur:
            return [_job(r) async for r in cur]

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
        """Store a monitor unless a cap or a duplicate forbids it, in ONE statement: the counts and
        the insert see the same snapshot under SQLite's write lock, so two concurrent commands
        (or processes) cannot both pass a cap. Raises MonitorRefused naming the reason."""
        now = time.time()
        mon = Monitor(
            new_id("m"), url, interval_s, user_id, guild_id, channel_id, now, now,
            interval_text=interval_text, selector=selector, ignore_json=ignore_json,
        )  # fmt: skip
        cur = await self._db.execute(
            """INSERT INTO monitors (id, url, interval_s, user_id, guild_id, channel_id, created_at,
                   next_check_at, interval_text, selector, ignore_json)
               SELECT :id, :url, :interval_s, :user, :guild, :channel, :now, :now, :interval_text,
                      :selector, :ignore_json
               WHERE (SELECT COUNT(*) FROM monitors WHERE user_id = :user) < :per_user
                 AND CASE WHEN :guild IS NULL
                     THEN (SELECT COUNT(*) FROM monitors WHERE guild_id IS NULL AND channel_id = :channel)
                          < :per_dm
                     ELSE (SELECT COUNT(*) FROM monitors WHERE guild_id = :guild) < :per_guild END
                 AND NOT EXISTS (SELECT 1 FROM monitors WHERE channel_id = :channel AND url = :url
                                 AND COALESCE(selector, '') = COALESCE(:selector, ''))""",
            {
                "id": mon.id, "url": url, "interval_s": interval_s, "user": user_id, "guild": guild_id,
                "channel": channel_id, "now": now, "interval_text": interval_text, "selector": selector,
                "ignore_json": ignore_json, "per_user": caps.per_user, "per_dm": caps.per_dm,
                "per_guild": caps.per_guild,
            },
        )  # fmt: skip
        await self._db.commit()
        if cur.rowcount == 1:
            return mon
        raise await self._refusal(url, user_id, guild_id, channel_id, selector, caps)

    async def _refusal(
        self, url: str, user_id: str, guild_id: str | None, channel_id: str, selector: str | None,
        caps: MonitorCaps,
    ) -> MonitorRefused:  # fmt: skip
        """Why add_monitor's insert stored nothing (read after the fact: only for the message)."""
        async with self._db.execute(
            "SELECT * FROM monitors WHERE channel_id = ? AND url = ? AND COALESCE(selector, '') = ?",
            (channel_id, url, selector or ""),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            return MonitorRefused("duplicate", 0, _monitor(row))
        if guild_id is None:
            scope = await self._count("guild_id IS NULL AND channel_id = ?", channel_id)
            if scope >= caps.per_dm:
                return MonitorRefused("dm", caps.per_dm)
        elif await self._count("guild_id = ?", guild_id) >= caps.per_guild:
            return MonitorRefused("guild", caps.per_guild)
        return MonitorRefused("user", caps.per_user)

    async def _count(self, where: str, *params: Any) -> int:
        async with self._db.execute(f"SELECT COUNT(*) FROM monitors WHERE {where}", params) as cur:  # noqa: S608
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def monitors(self, guild_id: str | None = None, *, channel_id: str | None = None) -> list[Monitor]:
        """A server's monitors; with `channel_id` and no guild, the monitors of that DM channel;
        with neither, every monitor (the scheduler)."""
        sql, params = "SELECT * FROM monitors", tuple[str, ...]()
        if guild_id is not None:
            sql, params = sql + " WHERE guild_id = ?", (guild_id,)
        elif channel_id is not None:
            sql, params = sql + " WHERE guild_id IS NULL AND channel_id = ?", (channel_id,)
        async with self._db.execute(sql + " ORDER BY created_at", params) as cur:
            return [_monitor(r) async for r in cur]

    async def get_monitor(self, monitor_id: str) -> Monitor | None:
        async with self._db.execute("SELECT * FROM monitors WHERE id = ?", (monitor_id,)) as cur:
            row = await cur.fetchone()
        return _monitor(row) if row else None

    async def monitor_for_job(self, job_id: str) -> Monitor | None:
        """The monitor whose check `job_id` is (None once the check was handled, or if stale)."""
        async with self._db.execute("SELECT * FROM monitors WHERE job_id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return _monitor(row) if row else None

    async def due_monitors(self, now: float) -> list[Monitor]:
        async with self._db.execute(
            "SELECT * FROM monitors WHERE next_check_at <= ? ORDER BY next_check_at", (now,)
        ) as cur:
            return [_monitor(r) async for r in cur]

    async def update_monitor(self, monitor_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in fields)
        await self._db.execute(
            f"UPDATE monitors SET {sets} WHERE id = ?",  # noqa: S608 - column names are ours
            (*fields.values(), monitor_id),
        )
        await self._db.commit()

    async def finish_monitor_check(self, monitor_id: str, job_id: str, **fields: Any) -> bool:
        """Record a check's outcome only if `job_id` is still the monitor's pending check: a late or
        replayed outcome (after a restart) of an older check changes nothing. True if recorded."""
        sets = ", ".join(f"{c} = ?" for c in {**fields, "job_id": None})
        cur = await self._db.execute(
            f"UPDATE monitors SET {sets} WHERE id = ? AND job_id = ?",  # noqa: S608 - column names are ours
            (*fields.values(), None, monitor_id, job_id),
        )
        await self._db.commit()
        return cur.rowcount == 1

    async def remove_monitor(self, monitor_id: str) -> bool:
        cur = await self._db.execute("DELETE FROM monitors WHERE id = ?", (monitor_id,))
        await self._db.commit()
        return cur.rowcount == 1


_JOB_COLUMNS = """id, command, args_json, user_id, guild_id, channel_id, frontend, origin_message_id, state,
    created_at, interaction_id, interaction_token, token_expires_at"""
_INSERT_JOB = f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_INSERT_FILE = "INSERT INTO job_files (job_id, idx, name, content_type, data) VALUES (?, ?, ?, ?, ?)"
# Admission: insert only while the user's queued + running jobs are under the limit. Atomic in
# SQLite (one writer at a time); PostgreSQL needs a per-user advisory lock before it.
_INSERT_JOB_UNDER_LIMIT = f"""INSERT INTO jobs ({_JOB_COLUMNS})
    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
    WHERE (SELECT COUNT(*) FROM jobs WHERE user_id = ? AND state IN ('queued', 'running')) < ?"""  # noqa: S608


def _monitor(row: aiosqlite.Row) -> Monitor:
    return Monitor(**dict(row))


def _job(row: aiosqlite.Row) -> Job:
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
    )
