"""The per-guild monitor cap: the next !monitor past it is refused with a reason; nothing is stored."""

from __future__ import annotations

import pytest

from tests.bot.conftest import ALICE, needs_agent
from tests.bot.test_e2e_lifecycle import emu, page, site, start  # noqa: F401 - shared fixtures

pytestmark = [pytest.mark.timeout(60), needs_agent("web-scraper")]


async def test_monitors_per_guild_cap(emu, bot_env, monkeypatch, site):  # noqa: F811
    running = await start(emu, monkeypatch, SPOTRUN_MONITORS_PER_GUILD="2", SPOTRUN_MONITOR_TICK_S="60")
    try:
        for i in range(2):
            emu.user_says(ALICE, f"!monitor {site}/p?n={i} 120")
            await emu.wait_for(lambda m, i=i: "watching" in m.content and f"n={i}" in m.content, timeout=10)
        emu.user_says(ALICE, f"!monitor {site}/p?n=3 120")
        refusal = await emu.wait_for(lambda m: "limit" in m.content or "limit" in m.text(), timeout=10)
        assert "remove one" in refusal.text()
        assert len(await running.core.store.monitors(str(emu.guild_id))) == 2
    finally:
        await running.stop()
