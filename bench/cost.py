"""Cost per 1000 commands per agent from the cost model, and the bot's monthly cost on Spot vs on-demand.

Durations are representative per-command service times (most measured by `bench engines` /
`bench coldstart` on this machine; provider-backed ones are assumptions, stated in the row).
Free tier is NOT subtracted here: these are marginal prices once the free tier is used up.
"""

from __future__ import annotations

from agent_client import AgentConfig
from bench._util import Row
from bot.billing.cost import CostSettings, receipt
from spotrun.protocol import Usage

# The design's Cloud Run resources (agents/*/service.yaml).
RESOURCES = {
    "image-gen": (2, 2),
    "web-scraper": (2, 4),
    "data-analysis": (4, 8),
    "audio-video": (4, 4),
}
# (agent, command, agent-measured seconds, provider $ per command, note)
WORKLOAD = [
    ("image-gen", "enhance", 0.4, 0.0, "x2 of 1024², measured"),
    ("image-gen", "generate", 8.0, 0.04, "assumed 8 s provider wait, $0.04/image"),
    ("web-scraper", "scrape", 1.0, 0.0, "assumed 1 s incl. fetch"),
    ("data-analysis", "analyze", 0.3, 0.0, "10 MB CSV, measured"),
    ("data-analysis", "chart", 0.5, 0.0, "assumed"),
    ("audio-video", "tts", 0.1, 0.0, "espeak-ng, measured"),
    ("audio-video", "convert", 0.25, 0.0, "10 s WAV->MP3, measured"),
    ("audio-video", "transcribe", 1.5, 0.0, "pocketsphinx ~3 s speech, measured"),
]
HOURS_PER_MONTH = 730
# e2-small (2 shared vCPU, 2 GB; ~0.94 vCPU / 1.2 GiB allocatable) us-central1 list prices.
E2_SMALL_ON_DEMAND_H = 0.016751
E2_SMALL_SPOT_H = 0.005025  # Spot prices float; ~70 % off is typical for e2
BOT_REQUESTS = (0.05, 0.125)  # chart: 50m CPU, 128 MiB
NODE_ALLOCATABLE = (0.94, 1.2)


def run() -> list[Row]:
    prices = CostSettings()
    rows: list[Row] = []
    for agent, command, seconds, provider, note in WORKLOAD:
        cpu, mem = RESOURCES[agent]
        cfg = AgentConfig(
            name=agent, base_url="https://x.a.run.app", commands=("tts",), cpu=cpu, memory_gib=mem
        )
        r = receipt(Usage(duration_ms=seconds * 1000, provider_cost_usd=provider), cfg, prices)
        cloud_run = (r.total_usd - r.provider_usd) * 1000
        rows.append(
            Row(
                "cost",
                f"{agent} {command}: $ / 1000 commands",
                r.total_usd * 1000,
                "USD",
                note=f"Cloud Run ${cloud_run:.3f} + provider ${provider * 1000:.2f}; {note}",
            )
        )
    share = max(BOT_REQUESTS[0] / NODE_ALLOCATABLE[0], BOT_REQUESTS[1] / NODE_ALLOCATABLE[1])
    spot = E2_SMALL_SPOT_H * HOURS_PER_MONTH * share
    on_demand = E2_SMALL_ON_DEMAND_H * HOURS_PER_MONTH * share
    rows += [
        Row(
            "cost",
            "bot on Spot e2-small (its share of the node)",
            spot,
            "USD/mo",
            "on-demand",
            spot / on_demand,
            f"share {share:.0%} of allocatable",
        ),
        Row("cost", "bot on on-demand e2-small (same share)", on_demand, "USD/mo"),
        Row(
            "cost",
            "whole Spot e2-small node",
            E2_SMALL_SPOT_H * HOURS_PER_MONTH,
            "USD/mo",
            "on-demand",
            E2_SMALL_SPOT_H / E2_SMALL_ON_DEMAND_H,
        ),
    ]
    return rows


if __name__ == "__main__":
    from bench._util import render_table

    print(render_table(run()))
