"""Which shards a process prefers, from the settings the chart gives it, and their validation."""

from __future__ import annotations

import pytest

from bot.settings import BotSettings
from bot.shards.plan import pod_ordinal, preferred_shards, shard_of
from spotrun.config import SettingsError, load_settings


def test_the_pod_ordinal_is_the_trailing_number_of_a_statefulset_pod() -> None:
    assert pod_ordinal("spotrun-bot-2") == 2
    assert pod_ordinal("spotrun-bot-7c9f-abcde") is None  # a Deployment's pod has no ordinal
    assert pod_ordinal(None) is None


def test_ordinals_split_the_shards_and_a_pod_beyond_them_is_a_standby() -> None:
    assert preferred_shards(8, (), 4, "spotrun-bot-1") == (1, 5)
    assert preferred_shards(6, (), 3, "spotrun-bot-0") == (0, 3)
    assert preferred_shards(1, (), 2, "spotrun-bot-0") == (0,)
    assert preferred_shards(1, (), 2, "spotrun-bot-1") == ()  # active/standby: pod-1 waits
    assert preferred_shards(4, (), 1, None) == (0, 1, 2, 3)  # one process: every shard
    assert preferred_shards(8, (7, 2, 9), 4, "spotrun-bot-1") == (2, 7)  # explicit ids win; 9 > count


def test_a_guild_lands_on_the_shard_discord_sends_it_to() -> None:
    guild = (5 * 1000 + 4) << 22
    assert shard_of(guild, 5) == (guild >> 22) % 5 == 4
    assert shard_of(None, 5) == 0  # DMs: shard 0
    assert shard_of(guild, 1) == 0


def test_shard_settings_are_typed_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTRUN_SHARD_COUNT", "6")
    monkeypatch.setenv("SPOTRUN_SHARD_IDS", "0, 3")
    monkeypatch.setenv("SPOTRUN_REPLICAS", "3")
    settings = load_settings(BotSettings)
    assert (settings.shard_count, settings.shard_ids, settings.replicas) == (6, (0, 3), 3)
    monkeypatch.setenv("SPOTRUN_SHARD_IDS", "0,6")
    with pytest.raises(SettingsError, match="SPOTRUN_SHARD_IDS"):
        load_settings(BotSettings)
