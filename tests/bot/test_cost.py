"""The cost receipt: Cloud Run request-based billing, rounded up to 100 ms, plus the provider."""

from __future__ import annotations

import pytest

from agent_client import AgentConfig
from bot.cost import CostSettings, receipt
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
    assert r.footer() == f"≈ ${expected:.6f} · 5.2 vCPU-s · 10.4 GiB-s · provider $0.0200"


def test_exact_multiple_is_not_rounded_up_and_zero_costs_one_request() -> None:
    assert receipt(Usage(duration_ms=200), AGENT, CostSettings()).billed_s == pytest.approx(0.2)
    zero = receipt(Usage(duration_ms=0), AGENT, CostSettings())
    assert zero.billed_s == 0 and zero.total_usd == pytest.approx(0.40 / 1e6)


def test_prices_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTRUN_COST_VCPU_SECOND_USD", "0.000018")
    monkeypatch.setenv("SPOTRUN_COST_GIB_SECOND_USD", "0.000002")
    monkeypatch.setenv("SPOTRUN_COST_REQUEST_USD", "0")
    r = receipt(Usage(duration_ms=1000), AGENT, CostSettings())
    assert r.total_usd == pytest.approx(4 * 0.000018 + 8 * 0.000002)
