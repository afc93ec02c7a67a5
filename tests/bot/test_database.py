"""The PostgreSQL spelling of the store's SQL: placeholders, dialect words and migration types."""

from __future__ import annotations

from bot.jobs.database import lock_key, pg_script, pg_sql


def test_positional_and_named_placeholders() -> None:
    assert pg_sql("SELECT * FROM jobs WHERE id = ? AND state = ?", ("a", "queued")) == (
        "SELECT * FROM jobs WHERE id = $1 AND state = $2",
        ["a", "queued"],
    )
    sql, args = pg_sql(
        "SELECT {least}(a, :x) FROM t WHERE g = :g OR CAST(:g AS TEXT) IS NULL AND h = 'x::text'",
        {"g": "7", "x": 1.5, "unused": 0},
    )
    assert sql == "SELECT LEAST(a, $1) FROM t WHERE g = $2 OR CAST($2 AS TEXT) IS NULL AND h = 'x::text'"
    assert args == [1.5, "7"]


def test_migration_types_and_lock_keys() -> None:
    # REAL is float4 in PostgreSQL: timestamps would lose their seconds.
    assert pg_script("created_at REAL NOT NULL, data BLOB, realm TEXT") == (
        "created_at DOUBLE PRECISION NOT NULL, data BYTEA, realm TEXT"
    )
    assert lock_key("spotrun:claim") == lock_key("spotrun:claim") != lock_key("spotrun:admit:1")
    assert -(2**31) <= lock_key("x") < 2**31
