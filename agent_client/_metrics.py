"""Prometheus metrics of the agent client (registered once per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from spotrun.metrics import JOB_BUCKETS

CALLS = Counter("spotrun_agent_calls_total", "Agent calls by outcome", ["agent", "command", "outcome"])
LATENCY = Histogram(
    "spotrun_agent_call_seconds",
    "Agent call latency incl. retries",
    ["agent", "command"],
    buckets=JOB_BUCKETS,
)
RETRIES = Counter("spotrun_agent_retries_total", "Retried agent attempts", ["agent", "reason"])
TOKEN_REFRESHES = Counter(
    "spotrun_id_token_refreshes_total", "ID token fetches by outcome", ["audience", "outcome"]
)
BREAKER_STATE = Gauge(
    "spotrun_agent_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", ["agent"]
)
IN_FLIGHT = Gauge("spotrun_agent_in_flight", "Calls in flight per agent", ["agent"])
