"""The two database backends of the job store (SQLite embedded, PostgreSQL shared) behind one API.

The store writes its SQL once, in SQLite's spelling with `?` or `:name` placeholders; the
PostgreSQL backend rewrites placeholders to `$n` and the few dialect words (`{least}`,
`{greatest}`) and types in the migration scripts (REAL is float4 in PostgreSQL: timestamps
would lose seconds, so it becomes DOUBLE PRECISION; BLOB becomes BYTEA).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

Params = Sequence[Any] | Mapping[str, Any]

# What a dead or unreachable database raises, for the callers that report it (/readyz, loops).
try:
    import asyncpg

    DatabaseErrors: tuple[type[BaseException], ...] = (
        sqlite3.Error,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        # A pooled connection cut mid-operation by a server restart surfaces as this.
        asyncpg.exceptions.InternalClientError,
        ConnectionError,
        OSError,
        TimeoutError,
    )
except ImportError:  # pragma: no cover - the bot extra installs it
    DatabaseErrors = (sqlite3.Error, ConnectionError, OSError, TimeoutError)


class Conn(Protocol):
    """One connection (or one transaction on it): what the store's queries run on."""

    async def fetch(self, sql: str, params: Params = ()) -> list[Any]: ...
    async def fetchone(self, sql: str, params: Params = ()) -> Any | None: ...
    async def execute(self, sql: str, params: Params = ()) -> int: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    async def lock(self, key: str) -> None: ...


class Database(Conn, Protocol):
    dialect: str
    shared: bool  # several processes may run jobs on it (leases matter across processes)

    def transaction(self) -> Any: ...  # an async context manager yielding a Conn
    async def migrate(self, scripts: Sequence[str]) -> None: ...
    async def close(self) -> None: ...


_SQLITE_WORDS = {"least": "MIN", "greatest": "MAX"}
_PG_WORDS = {"least": "LEAST", "greatest": "GREATEST"}


def _words(sql: str, words: dict[str, str]) -> str:
    for word, spelled in words.items():
        sql = sql.replace("{" + word + "}", spelled)
    return sql


# ------------------------------------------------------------------------------- SQLite


class _SqliteConn:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetch(self, sql: str, params: Params = ()) -> list[Any]:
        async with self._db.execute(_words(sql, _SQLITE_WORDS), params) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> Any | None:
        async with self._db.execute(_words(sql, _SQLITE_WORDS), params) as cur:
            return await cur.fetchone()

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._db.execute(_words(sql, _SQLITE_WORDS), params)
        rowcount = cur.rowcount
        await cur.close()
        return rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._db.executemany(sql, rows)

    async def lock(self, key: str) -> None:
        """Nothing to do: a SQLite transaction here is BEGIN IMMEDIATE, which holds the one write lock."""


class SqliteDatabase(_SqliteConn):
    """One connection, autocommit; transactions are BEGIN IMMEDIATE under an asyncio lock, so no
    other coroutine's statement can land inside one (and a ROLLBACK undoes only its own work)."""

    dialect = "sqlite"
    shared = False

    def __init__(self, db: aiosqlite.Connection) -> None:
        super().__init__(db)
        self._tx_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SqliteDatabase:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): no implicit transactions.
        db = await aiosqlite.connect(str(path), isolation_level=None)
        db.row_factory = aiosqlite.Row
        # WAL: readers never block the writer; NORMAL sync is durable enough with WAL.
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA foreign_keys=ON")
        return cls(db)

    async def fetch(self, sql: str, params: Params = ()) -> list[Any]:
        async with self._tx_lock:
            return await super().fetch(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Any | None:
        async with self._tx_lock:
            return await super().fetchone(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._tx_lock:
            return await super().execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteConn]:
        async with self._tx_lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteConn(self._db)
            except BaseException:
                await asyncio.shield(self._db.execute("ROLLBACK"))
                raise
            await self._db.execute("COMMIT")

    async def migrate(self, scripts: Sequence[str]) -> None:
        await self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = (row[0] or 0) if row else 0
        for version, script in enumerate(scripts[current:], start=current + 1):
            await self._db.executescript(
                f"BEGIN; {script}; INSERT INTO schema_version VALUES ({version}); COMMIT;"  # noqa: S608
            )

    async def close(self) -> None:
        await self._db.close()


# --------------------------------------------------------------------------- PostgreSQL

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_PG_TYPES = ((re.compile(r"\bREAL\b"), "DOUBLE PRECISION"), (re.compile(r"\bBLOB\b"), "BYTEA"))


def pg_sql(sql: str, params: Params) -> tuple[str, list[Any]]:
    """SQLite-spelled SQL and its parameters as asyncpg wants them: `$n` placeholders, a list."""
    sql = _words(sql, _PG_WORDS)
    if isinstance(params, Mapping):
        order: dict[str, int] = {}

        def named(m: re.Match[str]) -> str:
            return f"${order.setdefault(m.group(1), len(order) + 1)}"

        sql = _NAMED.sub(named, sql)
        return sql, [params[name] for name in order]
    parts = sql.split("?")
    out = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
    return out, list(params)


def pg_script(script: str) -> str:
    for pattern, word in _PG_TYPES:
        script = pattern.sub(word, script)
    return script


def lock_key(key: str) -> int:
    """A stable signed 64-bit key for pg_advisory_*lock (crc32 is stable across processes)."""
    return zlib.crc32(key.encode()) - 2**31


def _rowcount(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class _PgConn:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Params = ()) -> list[Any]:
        q, args = pg_sql(sql, params)
        return list(await self._conn.fetch(q, *args))

    async def fetchone(self, sql: str, params: Params = ()) -> Any | None:
        q, args = pg_sql(sql, params)
        return await self._conn.fetchrow(q, *args)

    async def execute(self, sql: str, params: Params = ()) -> int:
        q, args = pg_sql(sql, params)
        return _rowcount(await self._conn.execute(q, *args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            q, _ = pg_sql(sql, rows[0])
            await self._conn.executemany(q, rows)

    async def lock(self, key: str) -> None:
        """A transaction-scoped advisory lock: released by COMMIT/ROLLBACK, or when the session dies."""
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(key))


async def _keep_session(conn: Any) -> None:
    """Release a connection to the pool without asyncpg's reset query (advisory unlock, RESET ALL,
    UNLISTEN…): one more round trip on every statement otherwise. Nothing here changes session
    state: advisory locks are transaction-scoped, there are no SETs, cursors or listeners."""


class PostgresDatabase:
    """A bounded asyncpg pool; every statement borrows a connection for just that statement."""

    dialect = "postgresql"
    shared = True

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 10.0
    ) -> PostgresDatabase:
        import asyncpg

        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            command_timeout=timeout_s,
            # A connection idle this long is closed: after a database restart the pool refills
            # with fresh ones instead of handing out dead sockets for long.
            max_inactive_connection_lifetime=60.0,
            reset=_keep_session,
        )
        return cls(pool)

    async def fetch(self, sql: str, params: Params = ()) -> list[Any]:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).fetch(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Any | None:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).fetchone(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._pool.acquire() as conn:
            await _PgConn(conn).executemany(sql, rows)

    async def lock(self, key: str) -> None:
        raise RuntimeError("advisory locks are taken inside a transaction")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConn]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgConn(conn)

    async def migrate(self, scripts: Sequence[str]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            # Processes starting together migrate one after the other.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key("spotrun:migrate"))
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for version, script in enumerate(scripts[current:], start=current + 1):
                await conn.execute(pg_script(script))
                await conn.execute("INSERT INTO schema_version VALUES ($1)", version)

    async def close(self) -> None:
        # Bounded: a pool whose server is gone must not hold up the exit.
        try:
            await asyncio.wait_for(self._pool.close(), timeout=5)
        except TimeoutError:
            self._pool.terminate()
