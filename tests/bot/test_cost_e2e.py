"""/cost and /budget end to end: the real bot and agents, an emulated Discord, real !tts jobs."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest

from bot.runtime.main import Running
from tests.bot import test_e2e_discord
from tests.bot.conftest import ADMIN, ALICE, BOB, needs_agent
from tests.fakes.discord import DiscordEmulator

# The same emulator and bot fixtures as the other end-to-end tests.
emu, bot = test_e2e_discord.emu, test_e2e_discord.bot

pytestmark = [pytest.mark.timeout(120), needs_agent("audio-video")]

REFUSED = "admin commands are for server administrators"


def mp3s(emu: DiscordEmulator) -> int:
    return sum(any(a[0].endswith(".mp3") for a in m.attachments) for m in emu.messages())


async def tts(emu: DiscordEmulator, text: str) -> None:
    """A real !tts job by Bob; returns once its result is posted."""
    before = mp3s(emu)
    emu.user_says(BOB, f"!tts {text}")
    for _ in range(600):
        if mp3s(emu) > before:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no result for !tts {text}")


async def spent(running: Running) -> float:
    (row,) = await running.core.store.read("SELECT SUM(total_usd) FROM jobs")
    return float(row[0] or 0)


async def wait_jobs_finished(running: Running, n: int) -> None:
    for _ in range(200):
        (row,) = await running.core.store.read(
            "SELECT COUNT(*) FROM jobs WHERE total_usd IS NOT NULL AND agent IS NOT NULL"
        )
        if row[0] >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{n} jobs never recorded their cost")


async def test_non_admins_are_refused_cost_and_budget(emu: DiscordEmulator, bot: Running) -> None:
    emu.user_says(ALICE, "!cost")
    await emu.wait_for(lambda m: REFUSED in m.content, timeout=10)
    emu.user_says(ALICE, "!budget set 100")
    await asyncio.sleep(0.3)
    # Discord hides the admin commands from non-admins; where a server widened them in
    # Integrations, the run-time check still refuses.
    inter = emu.slash(ALICE, "budget", {"action": "lift"}, enforce_permissions=False)
    await emu.wait_for(lambda m: m.interaction_id == inter and REFUSED in m.content, timeout=10)
    inter = emu.slash(BOB, "cost", {"csv": True}, enforce_permissions=False)
    msg = await emu.wait_for(lambda m: m.interaction_id == inter and REFUSED in m.content, timeout=10)
    assert msg.ephemeral and not msg.attachments
    assert sum(REFUSED in m.content for m in emu.messages()) == 4
    assert await bot.core.store.read("SELECT * FROM budgets") == []


async def test_cost_report_and_csv_after_real_jobs(emu: DiscordEmulator, bot: Running) -> None:
    await tts(emu, "hello there")
    await tts(emu, "second job")
    emu.user_says(BOB, "!generate a lighthouse")  # reaches the agent, fails: billed all the same
    await emu.wait_for(lambda m: m.content.startswith("❌"), timeout=30)
    await wait_jobs_finished(bot, 3)

    inter = emu.slash(ADMIN, "cost", {"csv": True})
    msg = await emu.wait_for(lambda m: m.interaction_id == inter and bool(m.attachments), timeout=15)
    embed = msg.embeds[0]
    assert embed["title"].startswith("Cost — ") and "month to date" in embed["title"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert (
        "`audio-video`" in fields["By agent (per 1000 commands)"]
        and "per 1000" in fields["By agent (per 1000 commands)"]
    )
    assert "`image-gen`" in fields["By agent (per 1000 commands)"]
    assert "<@5002>" in fields["Top users"] and "`tts` " in fields["By command"]
    assert "left" in fields["Free tier (billing account)"]
    assert "linear on the" in fields["Projection to month end"]
    assert len(str(embed)) < 6000

    name, data, _ = msg.attachments[0]
    assert name.startswith("spotrun-cost-") and name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [r["command"] for r in rows] == ["tts", "tts", "generate"]
    assert [r["state"] for r in rows] == ["succeeded", "succeeded", "failed"]
    assert {r["agent"] for r in rows} == {"audio-video", "image-gen"}
    for row in rows:
        assert row["user"] == str(BOB) and row["guild"] == str(emu.guild_id)
        billed = float(row["billed_s"])
        assert billed > 0 and round(billed * 10, 6) == int(round(billed * 10, 6))  # whole 100 ms steps
        cpu, mem = 1, 2  # the test registry's agents
        assert float(row["vcpu_s"]) == pytest.approx(billed * cpu)
        assert float(row["gib_s"]) == pytest.approx(billed * mem)
        assert float(row["total_usd"]) == pytest.approx(
            billed * cpu * 0.000024 + billed * mem * 0.0000025 + 0.4e-6 + float(row["provider_usd"])
        )
        assert float(row["after_free_tier_usd"]) == 0  # far inside the free tier
    assert sum(float(r["total_usd"]) for r in rows) == pytest.approx(await spent(bot))


async def test_budget_warns_once_refuses_with_reset_time_and_lifts(
    emu: DiscordEmulator,
    bot: Running,
) -> None:
    stats = bot.core.client.stats
    await tts(emu, "first")
    await wait_jobs_finished(bot, 1)
    first = await spent(bot)

    # 90 % used: the next job is accepted and the channel is warned, once.
    emu.user_says(ADMIN, f"!budget set {first / 0.9:.12f}")
    await emu.wait_for(lambda m: "monthly budget for this server set to" in m.content, timeout=10)
    await tts(emu, "second")
    warning = await emu.wait_for(lambda m: "this server has used 90% of its $" in m.content, timeout=10)
    assert warning.allowed_mentions is not None and warning.allowed_mentions.get("parse") == []
    await wait_jobs_finished(bot, 2)

    # Used up: refused before anything is stored or dispatched, with the reset as a timestamp.
    emu.user_says(ADMIN, f"!budget set {await spent(bot) * 0.999:.12f}")
    for _ in range(200):
        if sum("monthly budget for this server set to" in m.content for m in emu.messages()) == 2:
            break
        await asyncio.sleep(0.05)
    calls = stats("audio-video").calls
    jobs = len(await bot.core.store.user_jobs(str(BOB), 50))
    emu.user_says(BOB, "!tts third")
    refusal = await emu.wait_for(lambda m: "monthly budget, so no new jobs until it resets" in m.content, 10)
    assert "<t:" in refusal.content and ":R>" in refusal.content
    await asyncio.sleep(0.5)
    assert stats("audio-video").calls == calls  # the agent received no call
    assert len(await bot.core.store.user_jobs(str(BOB), 50)) == jobs  # and no job was created
    assert sum("⚠️ this server has used" in m.content for m in emu.messages()) == 1  # warned once

    emu.user_says(ADMIN, "!budget")
    view = await emu.wait_for(lambda m: "• server:" in m.content, timeout=10)
    assert "budgets reset <t:" in view.content and "(100%)" in view.content

    emu.user_says(ADMIN, "!budget lift")
    await emu.wait_for(lambda m: "budget for this server lifted" in m.content, timeout=10)
    await tts(emu, "fourth")
    assert stats("audio-video").calls == calls + 1
