"""The rules behind monitors: intervals with units, process-stable fingerprints, ignore rules (with a
time limit), the short diff, backoff, and the store's atomic caps across two connections."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.jobs.store import JobStore, MonitorCaps, MonitorRefused
from bot.monitors.change import (
    BadIgnoreRule,
    IgnoreRules,
    IgnoreTimeout,
    fingerprint,
    short_diff,
)
from bot.monitors.interval import BadInterval, format_seconds, parse_interval
from bot.monitors.outcome import backoff_s

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("given", "seconds", "shown"),
    [
        ("30s", 30, "30s"),
        ("10m", 600, "10m"),
        ("2h", 7200, "2h"),
        ("1d", 86_400, "1d"),
        ("1.5h", 5400, "1.5h"),
        ("15", 900, "15 min"),
        ("90min", 5400, "90min"),
        ("2H", 7200, "2h"),
    ],
)
def test_intervals_with_units(given: str, seconds: float, shown: str) -> None:
    assert parse_interval(given, min_s=30) == (seconds, shown)


def test_interval_below_the_minimum_names_the_minimum_and_what_was_asked() -> None:
    with pytest.raises(BadInterval, match=r"the shortest interval is 5m \(you asked for 30s\)"):
        parse_interval("30s", min_s=300)
    with pytest.raises(BadInterval, match="not an interval"):
        parse_interval("hourly", min_s=300)
    with pytest.raises(BadInterval, match="the longest interval is 31d"):
        parse_interval("40d", min_s=300)


def test_format_seconds_uses_the_largest_even_unit() -> None:
    assert [format_seconds(s) for s in (300, 7200, 86_400, 90, 0.6)] == ["5m", "2h", "1d", "90s", "0.6s"]


def test_fingerprints_are_the_same_in_another_process() -> None:
    """hash() is salted per process (PYTHONHASHSEED): every restart looked like a change."""
    text = "The ferry runs hourly.\nThe café opens at nine."
    code = "import sys; from bot.monitors.change import fingerprint; print(fingerprint(sys.argv[1]))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, text],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outputs == {fingerprint(text)}
    assert fingerprint(text).startswith("sha256:")
    # Layout, case and punctuation are not changes; words are.
    assert fingerprint("the ferry  runs HOURLY!\n\nThe café opens at nine") == fingerprint(text)
    assert fingerprint(text.replace("nine", "ten")) != fingerprint(text)


def test_ignore_rules_plain_and_regex() -> None:
    rules = IgnoreRules.parse(["/visited \\d+ times/", "Last updated:"])
    assert rules.apply("Page visited 12 times. last updated: today", 0.5) == "Page .  today"
    assert IgnoreRules.from_json(rules.to_json()) == rules
    assert IgnoreRules.parse([]).to_json() is None
    with pytest.raises(BadIgnoreRule, match="not a valid regex"):
        IgnoreRules.parse(["/(unclosed/"])
    with pytest.raises(BadIgnoreRule, match="at most 5"):
        IgnoreRules.parse(["a", "b", "c", "d", "e", "f"])
    with pytest.raises(ValueError, match="list of strings"):
        IgnoreRules.from_json(json.dumps({"a": 1}))


def test_a_catastrophic_ignore_pattern_is_stopped_at_its_time_limit() -> None:
    rules = IgnoreRules.parse(["/(a|aa)+$/"])
    with pytest.raises(IgnoreTimeout, match="took too long"):
        rules.apply("a" * 80 + "b", 0.05)


def test_short_diff_is_trimmed_and_cannot_break_out_of_its_block() -> None:
    old = "\n".join(f"line {i}" for i in range(40))
    new = "\n".join(f"line {i} changed ``` @everyone" for i in range(40))
    diff = short_diff(old, new, lines=6)
    body = diff.removeprefix("```diff\n").removesuffix("\n```")
    assert diff.startswith("```diff\n") and diff.endswith("\n```")
    assert "```" not in body
    assert body.splitlines()[:2] == ["- line 0", "- line 1"]
    assert body.splitlines()[-1] == "… 74 more changed line(s)"
    assert len(diff) < 1000
    assert short_diff("same\ntext", "same\n\ntext  ") == ""


def test_backoff_doubles_up_to_the_cap_but_never_below_the_interval() -> None:
    assert [backoff_s(60, n, 600) for n in (1, 2, 3, 4, 10)] == [120, 240, 480, 600, 600]
    assert backoff_s(3600, 3, 600) == 3600


async def test_caps_hold_across_two_connections_to_one_store(store_url: str) -> None:
    """Two processes sharing a store file: concurrent inserts still stop at the cap."""
    first, second = await JobStore.open(store_url), await JobStore.open(store_url)
    caps = MonitorCaps(per_guild=4, per_dm=2, per_user=100)
    try:

        async def add(store: JobStore, i: int, guild: str | None) -> bool:
            try:
                await store.add_monitor(
                    url=f"https://example.com/{i}", interval_s=600, user_id=str(i),
                    guild_id=guild, channel_id="dm-1" if guild is None else "c1", caps=caps,
                )  # fmt: skip
            except MonitorRefused as refused:
                assert refused.reason == ("guild" if guild else "dm")
                return False
            return True

        stored = await asyncio.gather(*(add((first, second)[i % 2], i, "g1") for i in range(12)))
        assert sum(stored) == 4 and len(await first.monitors("g1")) == 4
        stored = await asyncio.gather(*(add((first, second)[i % 2], i, None) for i in range(6)))
        assert sum(stored) == 2 and len(await second.monitors(channel_id="dm-1")) == 2
    finally:
        await first.close()
        await second.close()


def test_fingerprints_match_the_scrapers_so_existing_monitors_see_no_change_after_upgrade() -> None:
    extract = pytest.importorskip("agents.web_scraper.extract")
    text = "Harbour News\n\nThe ferry runs hourly. The café opens at nine."
    assert fingerprint(text) == extract.fingerprint(text)


async def test_monitors_stored_before_the_upgrade_load_and_stay_as_they_were(tmp_path: Path) -> None:
    import aiosqlite

    from bot.jobs.store import MIGRATIONS

    path = tmp_path / "old.db"
    async with aiosqlite.connect(path) as db:  # a store as the previous release left it
        await db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, script in enumerate(MIGRATIONS[:2], start=1):
            await db.executescript(f"BEGIN; {script}; INSERT INTO schema_version VALUES ({version}); COMMIT;")  # noqa: S608 - our own migrations
        await db.execute(
            "INSERT INTO monitors (id, url, interval_s, user_id, guild_id, channel_id, created_at,"
            " next_check_at, fingerprint, text) VALUES ('mold', 'https://e.com', 3600, '1', '2', '3', 0, 0,"
            " ?, 'The ferry runs hourly.')",
            (fingerprint("The ferry runs hourly."),),
        )
        await db.commit()
    store = await JobStore.open(path)
    try:
        mon = await store.get_monitor("mold")
        assert mon is not None and mon.selector is None and mon.ignore_json is None and mon.job_id is None
        assert mon.fingerprint == fingerprint("The ferry runs hourly.")  # no false change on the next check
        assert [m.id for m in await store.due_monitors(1)] == ["mold"]
    finally:
        await store.close()
