"""Budgets in the ledger: warn once at 80 %, refuse at 100 % until the 1st (UTC), lift, per user."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from bot.billing.cost import CostSettings
from bot.billing.ledger import Ledger
from bot.jobs.store import JobStore
from tests.bot.test_ledger import add, ts


@pytest.fixture
async def ledger(store_url: str) -> AsyncIterator[Ledger]:
    store = await JobStore.open(store_url)
    yield Ledger(store, CostSettings())
    await store.close()


async def spend(ledger: Ledger, when: float, usd: float, user: str = "u1", guild: str = "g1") -> None:
    job = await add(ledger.store, when, v=0, g=0, r=0, guild=guild, user=user)
    await ledger.store.update(job, total_usd=usd)


async def test_warns_once_at_80_percent_then_refuses_at_100_until_next_month(ledger: Ledger) -> None:
    now = ts(2026, 5, 20)
    await ledger.set_budget("g1", None, 1.0, by="admin")
    await spend(ledger, ts(2026, 5, 2), 0.5)
    await spend(ledger, ts(2026, 4, 30), 5.0)  # last month's spend does not count
    assert await ledger.admit("g1", "u1", 0.8, now) == (ok := (await ledger.admit("g1", "u1", 0.8, now)))
    assert ok.warn is None and ok.exhausted is None

    await spend(ledger, ts(2026, 5, 3), 0.35)
    first = await ledger.admit("g1", "u1", 0.8, now)
    assert first.warn is not None and first.warn.ratio == pytest.approx(0.85) and first.exhausted is None
    assert (await ledger.admit("g1", "u2", 0.8, now)).warn is None  # once per month, not per user
    assert REGISTRY.get_sample_value("spotrun_budget_used_ratio", {"guild": "g1"}) == pytest.approx(0.85)

    await spend(ledger, ts(2026, 5, 4), 0.15)
    refused = await ledger.admit("g1", "u1", 0.8, now)
    assert refused.exhausted is not None and refused.resets_at == ts(2026, 6, 1)
    assert (await ledger.admit("g1", "u1", 0.8, ts(2026, 6, 1))).exhausted is None  # a new month
    assert (await ledger.admit("g2", "u1", 0.8, now)).exhausted is None  # another server

    assert await ledger.lift_budget("g1", None)
    assert not await ledger.lift_budget("g1", None)
    assert await ledger.admit("g1", "u1", 0.8, now) == type(refused)(resets_at=ts(2026, 6, 1))


async def test_setting_a_new_amount_rearms_the_warning(ledger: Ledger) -> None:
    now = ts(2026, 5, 20)
    await spend(ledger, ts(2026, 5, 2), 0.9)
    await ledger.set_budget("g1", None, 1.0, by="admin")
    assert (await ledger.admit("g1", "u1", 0.8, now)).warn is not None
    await ledger.set_budget("g1", None, 1.1, by="admin")
    assert (await ledger.admit("g1", "u1", 0.8, now)).warn is not None


async def test_a_user_budget_limits_only_that_user(ledger: Ledger) -> None:
    now = ts(2026, 5, 20)
    await ledger.set_budget("g1", "u1", 0.2, by="admin")
    await ledger.set_budget("g1", None, 10.0, by="admin")
    await spend(ledger, ts(2026, 5, 2), 0.25, user="u1")
    await spend(ledger, ts(2026, 5, 2), 1.0, user="u2")
    refused = await ledger.admit("g1", "u1", 0.8, now)
    assert refused.exhausted is not None and refused.exhausted.budget.user_id == "u1"
    assert (await ledger.admit("g1", "u2", 0.8, now)).exhausted is None
    assert [b.user_id for b in await ledger.budgets("g1")] == [None, "u1"]
