"""The cost model of one job: Cloud Run billing (request- or instance-based) plus the provider's charge."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_client import AgentConfig
from spotrun.protocol import Usage


class CostSettings(BaseSettings):
    """Cloud Run tier-1 prices and the monthly free tier; override when the region or contract differs."""

    model_config = SettingsConfigDict(env_prefix="SPOTRUN_COST_", extra="ignore")

    billing: Literal["request", "instance"] = Field(
        default="request", description="how the agents' Cloud Run services are billed"
    )
    # Request-based billing: only while a request is being handled, rounded up per request.
    vcpu_second_usd: float = Field(default=0.000024, ge=0)
    gib_second_usd: float = Field(default=0.0000025, ge=0)
    request_usd: float = Field(default=0.40 / 1_000_000, ge=0)
    billing_increment_ms: int = Field(default=100, ge=1)
    # Instance-based billing: the instance's whole lifetime, no request fee.
    instance_vcpu_second_usd: float = Field(default=0.000018, ge=0)
    instance_gib_second_usd: float = Field(default=0.000002, ge=0)
    # Per billing account and calendar month (UTC); shared with anything else on the account.
    free_vcpu_seconds: float = Field(default=180_000, ge=0)
    free_gib_seconds: float = Field(default=360_000, ge=0)
    free_requests: int = Field(default=2_000_000, ge=0)

    @property
    def rates(self) -> tuple[float, float, float]:
        """(per vCPU-s, per GiB-s, per request) for the configured billing."""
        if self.billing == "instance":
            return self.instance_vcpu_second_usd, self.instance_gib_second_usd, 0.0
        return self.vcpu_second_usd, self.gib_second_usd, self.request_usd


@dataclass(frozen=True)
class Receipt:
    billed_s: float
    vcpu_s: float
    gib_s: float
    requests: int
    provider_usd: float
    total_usd: float

    def plus_provider(self, usd: float | None) -> Receipt:
        """This bill with `usd` more of provider spend (an LLM router's tokens for the request)."""
        if not usd:
            return self
        return dataclasses.replace(self, provider_usd=self.provider_usd + usd, total_usd=self.total_usd + usd)

    def footer(self) -> str:
        # The free tier is the billing account's, applied month to date: a single job can't know it.
        return (
            f"≈ ${self.total_usd:.6f} before free tier · {self.vcpu_s:g} vCPU-s · {self.gib_s:g} GiB-s"
            f" · provider ${self.provider_usd:.4f}"
        )


def billed_seconds(duration_ms: float, increment_ms: int) -> float:
    """Cloud Run rounds each request up to the billing increment (100 ms)."""
    if duration_ms <= 0:
        return 0.0
    # round() first: 200.0000001 ms of float noise must not bill a whole extra increment.
    return math.ceil(round(duration_ms, 6) / increment_ms) * increment_ms / 1000


def price(vcpu_s: float, gib_s: float, requests: int, prices: CostSettings) -> float:
    per_vcpu, per_gib, per_request = prices.rates
    return vcpu_s * per_vcpu + gib_s * per_gib + requests * per_request


def receipt(usage: Usage, agent: AgentConfig, prices: CostSettings) -> Receipt:
    """The agent measured its own time; the registry says how much CPU and memory it has."""
    billed_s = billed_seconds(usage.duration_ms, prices.billing_increment_ms)
    vcpu_s = round(billed_s * agent.cpu, 6)
    gib_s = round(billed_s * agent.memory_gib, 6)
    total = price(vcpu_s, gib_s, 1, prices) + usage.provider_cost_usd
    return Receipt(billed_s, vcpu_s, gib_s, 1, usage.provider_cost_usd, total)
