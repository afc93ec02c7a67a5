"""The ledger: month-to-date spend from SQL, the free tier applied in order of time, projection,
per-1000 costs, and recording the cost of failed jobs that reached the agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from agent_client import AgentConfig, AgentRegistry
from bot.billing.cost import CostSettings
from bot.billing.ledger import Ledger, month_bounds, record_cost
from bot.jobs.store import JobState, JobStore
from spotrun.protocol import Command

PV, PG, PR = 0.000024, 0.0000025, 0.40 / 1e6
TTS = AgentConfig(name="audio-video", base_url="http://x", commands=(Command.TTS,), cpu=1, memory_gib=2)
SCRAPE = AgentConfig(name="web-scraper", base_url="http://y", commands=(Command.SCRAPE,), cpu=2, memory_gib=4)
REGISTRY_ = AgentRegistry(agents=(TTS, SCRAPE))


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[JobStore]:
    s = await JobStore.open(store_url)
    yield s
    await s.close()


async def add(
    store: JobStore,
    finished_at: float,
    *,
    v: float,
    g: float,
    r: int = 1,
    p: float = 0.0,
    command: str = "tts",
    guild: str | None = "g1",
    user: str = "u1",
    state: JobState = JobState.SUCCEEDED,
) -> str:
    job = await store.create_job(command=command, args={}, user_id=user, guild_id=guild, channel_id="c")
    total = v * PV + g * PG + r * PR + p
    await store.update(
        job.id, state=state.value, finished_at=finished_at, vcpu_s=v, gib_s=g, requests=r, provider_usd=p,
        total_usd=total,
    )  # fmt: skip
    return job.id


def test_month_bounds_are_the_utc_calendar_month() -> None:
    assert month_bounds(ts(2026, 12, 31, 23, 59)) == (ts(2026, 12, 1), ts(2027, 1, 1))
    assert month_bounds(ts(2026, 2, 1)) == (ts(2026, 2, 1), ts(2026, 3, 1))


async def test_free_tier_is_used_up_in_order_of_time_and_only_the_excess_is_billed(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTRUN_COST_FREE_VCPU_SECONDS", "100")
    monkeypatch.setenv("SPOTRUN_COST_FREE_GIB_SECONDS", "200")
    monkeypatch.setenv("SPOTRUN_COST_FREE_REQUESTS", "2")
    # Inserted out of order: the free tier must follow finish time, not insertion.
    third = await add(store, ts(2026, 2, 20), v=60, g=120, user="late")
    await add(store, ts(2026, 2, 2), v=60, g=120, user="early")
    await add(store, ts(2026, 2, 10), v=60, g=120, p=0.25, user="middle")
    await add(store, ts(2026, 1, 31, 23, 59), v=1000, g=1000, guild="g2")  # last month: not counted
    ledger = Ledger(store, CostSettings(), REGISTRY_)

    report = await ledger.month(ts(2026, 2, 22))

    assert report.jobs == 3
    assert report.gross_usd == pytest.approx(180 * PV + 360 * PG + 3 * PR + 0.25)
    # Cumulative vCPU-s 60/120/180 over a free 100: 0, 20, 60 billed; GiB-s 0, 40, 120; requests 0, 0, 1.
    assert report.net_usd == pytest.approx(80 * PV + 160 * PG + 1 * PR + 0.25)
    assert (report.vcpu.covered, report.vcpu.left) == (100, 0)
    assert (report.gib.covered, report.gib.left) == (200, 0)
    assert (report.requests.used, report.requests.left) == (3, 0)
    users = {u.key: u for u in report.top_users}
    assert users["early"].net_usd == 0  # entirely inside the free tier
    assert users["middle"].net_usd == pytest.approx(20 * PV + 40 * PG + 0.25)
    assert users["late"].net_usd == pytest.approx(60 * PV + 120 * PG + PR)
    rows = await ledger.jobs_csv_rows(ts(2026, 2, 22))
    assert [r[0] for r in rows][-1] == third and len(rows) == 3


async def test_well_inside_the_free_tier_nothing_is_billed_but_provider_costs(store: JobStore) -> None:
    await add(store, ts(2026, 3, 3), v=5, g=10, p=0.04)
    report = await Ledger(store, CostSettings(), REGISTRY_).month(ts(2026, 3, 4))
    assert report.net_usd == pytest.approx(0.04)
    assert report.vcpu.left == 180_000 - 5 and report.requests.left == 2_000_000 - 1


async def test_groups_projection_and_cost_per_1000_commands(store: JobStore) -> None:
    await add(store, ts(2026, 2, 2), v=10, g=20, command="tts", guild="g1", user="a")
    await add(store, ts(2026, 2, 3), v=30, g=60, command="tts", guild="g1", user="b")
    await add(store, ts(2026, 2, 4), v=40, g=80, p=1.0, command="scrape", guild="g2", user="b")
    failed = await add(
        store, ts(2026, 2, 5), v=0, g=0, r=0, command="scrape", guild="g2", state=JobState.FAILED
    )
    await store.update(failed, total_usd=None)
    ledger = Ledger(store, CostSettings(), REGISTRY_)
    now = ts(2026, 2, 8)  # 7 of February's 28 days: a quarter of the month

    report = await ledger.month(now)

    tts, scrape = 40 * PV + 80 * PG + 2 * PR, 40 * PV + 80 * PG + PR + 1.0
    agents = {g.key: g for g in report.by_agent}  # mapped from the command by the registry
    assert agents["audio-video"].gross_usd == pytest.approx(tts) and agents["audio-video"].jobs == 2
    assert agents["web-scraper"].jobs == 2  # the failed one counts as a command, at no cost
    assert report.per_1000()["audio-video"] == pytest.approx(tts / 2 * 1000)
    assert report.per_1000()["web-scraper"] == pytest.approx(scrape / 2 * 1000)
    assert [g.key for g in report.by_guild] == ["g2", "g1"]
    assert report.top_users[0].key == "b"
    assert report.elapsed_fraction == pytest.approx(0.25)
    assert report.projected_gross_usd == pytest.approx((tts + scrape) * 4)
    # 4 × the usage is still inside the free tier: only the provider's charge is projected.
    assert report.projected_net_usd == pytest.approx(4.0)

    mine = await ledger.month(now, guild="g1")
    assert mine.jobs == 2 and mine.gross_usd == pytest.approx(tts)
    assert mine.vcpu.used == 80  # the free tier stays account-wide


async def test_projection_crosses_the_free_tier(store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTRUN_COST_FREE_VCPU_SECONDS", "100")
    monkeypatch.setenv("SPOTRUN_COST_FREE_GIB_SECONDS", "0")
    monkeypatch.setenv("SPOTRUN_COST_FREE_REQUESTS", "0")
    await add(store, ts(2026, 2, 2), v=50, g=0, r=0)
    report = await Ledger(store, CostSettings(), REGISTRY_).month(ts(2026, 2, 8))
    assert report.net_usd == 0
    assert report.projected_net_usd == pytest.approx((200 - 100) * PV)  # 50 × 4 − 100 free


async def test_failed_job_that_reached_the_agent_is_billed_and_counted(store: JobStore) -> None:
    def counter() -> float:
        return REGISTRY.get_sample_value("spotrun_cost_usd_total", {"agent": "audio-video"}) or 0.0

    before = counter()
    job = await store.create_job(command="tts", args={}, user_id="u", guild_id="g", channel_id="c")
    await store.transition(job.id, JobState.RUNNING, started_at=1000.0)
    failed = await store.transition(
        job.id, JobState.FAILED, finished_at=1001.23, error_code="provider_not_configured"
    )
    await record_cost(store, failed, TTS, CostSettings())
    billed = await store.get(job.id)
    assert billed is not None
    row = await store.read(
        "SELECT agent, billed_s, vcpu_s, gib_s, requests, total_usd FROM jobs WHERE id = :id", {"id": job.id}
    )
    row = tuple(row[0])
    assert row[:5] == ("audio-video", 1.3, 1.3, 2.6, 1)
    assert row[5] == pytest.approx(1.3 * PV + 2.6 * PG + PR)
    assert counter() - before == pytest.approx(row[5])

    # Never reached the agent (connection refused, breaker open): nothing is billed.
    down = await store.create_job(command="tts", args={}, user_id="u", guild_id="g", channel_id="c")
    await store.transition(down.id, JobState.RUNNING)
    down_job = await store.transition(down.id, JobState.FAILED, error_code="AgentUnavailable")
    await record_cost(store, down_job, TTS, CostSettings())
    assert (await store.get(down.id)).total_usd is None  # type: ignore[union-attr]
