"""The cost receipt of one job: Cloud Run request-based billing plus the provider's charge."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_client import AgentConfig
from spotrun.protocol import Usage


class CostSettings(BaseSettings):
    """Cloud Run tier-1 request-based prices; override when the region or contract differs."""

    model_config = SettingsConfigDict(env_prefix="SPOTRUN_COST_", extra="ignore")

    vcpu_second_usd: float = Field(default=0.000024, ge=0)
    gib_second_usd: float = Field(default=0.0000025, ge=0)
    request_usd: float = Field(default=0.40 / 1_000_000, ge=0)
    billing_increment_ms: int = Field(default=100, ge=1)


@dataclass(frozen=True)
class Receipt:
    billed_s: float
    vcpu_s: float
    gib_s: float
    requests: int
    provider_usd: float
    total_usd: float

    def footer(self) -> str:
        return (
            f"≈ ${self.total_usd:.6f} · {self.vcpu_s:g} vCPU-s · {self.gib_s:g} GiB-s"
            f" · provider ${self.provider_usd:.4f}"
        )


def receipt(usage: Usage, agent: AgentConfig, prices: CostSettings) -> Receipt:
    """Cloud Run rounds each request up to the billing increment; the agent measured its own time."""
    inc = prices.billing_increment_ms
    billed_s = math.ceil(round(usage.duration_ms, 6) / inc) * inc / 1000 if usage.duration_ms > 0 else 0.0
    vcpu_s = round(billed_s * agent.cpu, 6)
    gib_s = round(billed_s * agent.memory_gib, 6)
    total = (
        vcpu_s * prices.vcpu_second_usd
        + gib_s * prices.gib_second_usd
        + prices.request_usd
        + usage.provider_cost_usd
    )
    return Receipt(billed_s, vcpu_s, gib_s, 1, usage.provider_cost_usd, total)
