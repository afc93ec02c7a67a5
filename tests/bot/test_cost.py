"""The cost receipt: Cloud Run request- or instance-based billing, rounded up to 100 ms, plus the provider."""

from __future__ import annotations

import pytest

from agent_client import AgentConfig
from bot.billing.cost import CostSettings, billed_seconds, receipt
from spotrun.protocol import Command, Usage

AGENT = AgentConfig(
    name="data-analysis", base_url="http://x", commands=(Command.ANALYZE,), cpu=4, memory_gib=8
)


def test_rounds_up_to_100_ms_and_prices_each_part() -> None:
    r = receipt(Usage(duration_ms=1234, provider_cost_usd=0.02), AGENT, CostSettings())
    assert r.billed_s == pytest.approx(1.3)
    assert r.vcpu_s == pytest.approx(5.2)
    assert r.gib_s == pytest.approx(10.4)
    expected = 5.2 * 0.000024 + 10.4 * 0.0000025 + 0.40 / 1e6 + 0.02
    assert r.total_usd == pytest.approx(expected)
    assert r.footer() == (f"≈ ${expected:.6f} before free tier · 5.2 vCPU-s · 10.4 GiB-s · provider $0.0200")


@pytest.mark.parametrize(
    ("ms", "billed"), [(1, 0.1), (99.9, 0.1), (100, 0.1), (100.01, 0.2), (200.0000001, 0.2), (0, 0.0)]
)
def test_each_request_is_rounded_up_to_the_increment(ms: float, billed: float) -> None:
    assert billed_seconds(ms, 100) == pytest.approx(billed)


def test_exact_multiple_is_not_rounded_up_and_zero_costs_one_request() -> None:
    assert receipt(Usage(duration_ms=200), AGENT, CostSettings()).billed_s == pytest.approx(0.2)
    zero = receipt(Usage(duration_ms=0), AGENT, CostSettings())
    assert zero.billed_s == 0 and zero.total_usd == pytest.approx(0.40 / 1e6)


def test_prices_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTRUN_COST_VCPU_SECOND_USD", "0.000018")
    monkeypatch.setenv("SPOTRUN_COST_GIB_SECOND_USD", "0.000002")
    monkeypatch.setenv("SPOTRUN_COST_REQUEST_USD", "0")
    monkeypatch.setenv("SPOTRUN_COST_BILLING_INCREMENT_MS", "1000")
    r = receipt(Usage(duration_ms=1001), AGENT, CostSettings())
    assert r.billed_s == 2
    assert r.total_usd == pytest.approx(2 * (4 * 0.000018 + 8 * 0.000002))


def test_instance_based_billing_has_its_own_prices_and_no_request_fee(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPOTRUN_COST_BILLING", "instance")
    prices = CostSettings()
    assert prices.rates == (0.000018, 0.000002, 0.0)
    r = receipt(Usage(duration_ms=1000, provider_cost_usd=0.5), AGENT, prices)
    assert r.total_usd == pytest.approx(4 * 0.000018 + 8 * 0.000002 + 0.5)


def test_defaults_are_the_published_free_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    p = CostSettings()
    assert (p.free_vcpu_seconds, p.free_gib_seconds, p.free_requests) == (180_000, 360_000, 2_000_000)
    monkeypatch.setenv("SPOTRUN_COST_BILLING", "spot")
    with pytest.raises(ValueError, match="billing"):
        CostSettings()
