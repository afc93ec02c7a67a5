"""Starting and stopping single shards of a running AutoShardedBot: the one place that reaches into
discord.py's internals (2.7) for it.

discord.py launches a fixed `shard_ids` list at connect. Shards here come and go at run time (a
standby takes over a lapsed lease), so this module calls `launch_shard` for one shard, closes one
through the client's shard table, and keeps `_connection.shard_ids` in step (discord.py counts
READYs against it). One client per process keeps one command tree, one cache and one REST session,
rather than one client per shard; every internal used is named here so an upgrade is checked here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import yarl
from discord import AutoShardedClient

Check = Callable[[int | None, str], Awaitable[bool]]

# The tasks discord.py runs a command event in (client._schedule_event, CommandTree, ViewStore),
# and the interaction gate below: what must finish before a process that handed its shards over
# closes its REST session and store (a command it claimed would be lost otherwise).
_HANDLER_TASKS = ("discord.py: on_message", "CommandTree-invoker", "discord-ui-", "interaction-gate")


class ShardGateway:
    def __init__(self, client: AutoShardedClient) -> None:
        self.client = client
        self.url: yarl.URL | None = None
        self._gating: set[asyncio.Task[None]] = set()

    def _table(self) -> dict[int, Any]:
        return self.client._AutoShardedClient__shards  # type: ignore[attr-defined,no-any-return]

    def _ids(self) -> list[int]:
        state = self.client._connection
        ids = list(state.shard_ids)
        state.shard_ids = ids  # discord.py starts it as a range; a list can grow and shrink
        return ids

    async def launch(self, shard_id: int) -> None:
        """Connect and IDENTIFY one shard (the client's before_identify_hook paces it); retries
        inside discord.py until connected, so the caller cancels it to give the shard up."""
        assert self.url is not None, "launch_shards sets the gateway URL first"
        ids = self._ids()
        if shard_id not in ids:
            ids.append(shard_id)
        await self.client.launch_shard(self.url, shard_id)

    async def close(self, shard_id: int) -> None:
        """Close one shard's session (code 1000: Discord ends it, no RESUME) and forget its guilds."""
        ids = self._ids()
        if shard_id in ids:
            ids.remove(shard_id)
        shard = self._table().pop(shard_id, None)
        if shard is not None:
            await shard.close()
            self.client.dispatch("shard_disconnect", shard_id)
        state = self.client._connection
        for guild in [g for g in state.guilds if g.shard_id == shard_id]:
            state._remove_guild(guild)

    async def settle(self, timeout_s: float) -> int:
        """Wait (bounded) for command handlers still running; returns how many did not finish."""
        current = asyncio.current_task()
        handlers = [
            t for t in asyncio.all_tasks() if t is not current and t.get_name().startswith(_HANDLER_TASKS)
        ]
        if not handlers:
            return 0
        _, pending = await asyncio.wait(handlers, timeout=timeout_s)
        return len(pending)

    def gate_interactions(self, check: Check) -> None:
        """Parse INTERACTION_CREATE only once `check(guild_id, "i:<id>")` passes (slash commands,
        buttons, autocomplete alike); discord.py's parser is synchronous, so the check runs in a task."""
        parsers = self.client._connection.parsers
        parse = parsers["INTERACTION_CREATE"]

        async def gated(data: dict[str, Any]) -> None:
            guild_id = data.get("guild_id")
            if await check(int(guild_id) if guild_id else None, f"i:{data['id']}"):
                parse(data)

        def schedule(data: dict[str, Any]) -> None:
            task = asyncio.create_task(gated(data), name="interaction-gate")
            self._gating.add(task)
            task.add_done_callback(self._gating.discard)

        parsers["INTERACTION_CREATE"] = schedule
