"""Prometheus metrics of the bot process (served on the ops port's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from spotrun.metrics import JOB_BUCKETS

JOBS = Counter("spotrun_jobs_total", "Jobs that reached a state", ["command", "state"])
QUEUE_DEPTH = Gauge("spotrun_jobs_queue_depth", "Jobs waiting for a slot")
JOB_SECONDS = Histogram(
    "spotrun_job_seconds", "Job latency from submit to result", ["command"], buckets=JOB_BUCKETS
)
READY = Gauge("spotrun_ready", "1 when the gateway is connected, the registry loaded and the store writable")
