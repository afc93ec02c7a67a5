"""Which shards a process prefers, from the settings the chart gives it (pure functions)."""

from __future__ import annotations

import re

_ORDINAL = re.compile(r"-(\d+)$")


def pod_ordinal(pod_name: str | None) -> int | None:
    """A StatefulSet pod's ordinal: the trailing `-N` of its name (`spotrun-bot-2` -> 2)."""
    match = _ORDINAL.search(pod_name or "")
    return int(match.group(1)) if match else None


def preferred_shards(
    shard_count: int, shard_ids: tuple[int, ...], replicas: int, pod_name: str | None
) -> tuple[int, ...]:
    """SPOTRUN_SHARD_IDS if given; else the shards s with s % replicas == the pod's ordinal, so
    ordinals split the shards evenly and a pod whose ordinal has none (1 shard, 2 replicas: pod-1)
    is a pure standby. Without an ordinal a process counts as ordinal 0."""
    if shard_ids:
        return tuple(sorted({s for s in shard_ids if 0 <= s < shard_count}))
    ordinal = pod_ordinal(pod_name) or 0
    return tuple(s for s in range(shard_count) if s % replicas == ordinal)


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard Discord sends a guild's events to; DMs go to shard 0."""
    if guild_id is None or shard_count <= 1:
        return 0
    return (guild_id >> 22) % shard_count
