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
# Shards across processes (bot.shards): summed over every process, spotrun_shard_owned counts the
# shards with a live session; an alert fires when sum(spotrun_shard_owned) < max(spotrun_shard_count).
SHARD_OWNED = Gauge(
    "spotrun_shard_owned", "1 for each shard whose gateway session this process holds", ["shard"]
)
SHARD_COUNT = Gauge("spotrun_shard_count", "Shards of the bot in total")
PROCESS_STANDBY = Gauge(
    "spotrun_process_standby", "1 when this process holds no shard (a standby or a worker)"
)
