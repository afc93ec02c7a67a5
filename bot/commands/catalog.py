"""The bot's job commands, read from the agents' manifests: fetched at start-up and when an
agent's build changes, kept in the store so the bot starts while an agent is cold or down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from agent_client import AgentClient, AgentConfig, AgentRegistry
from bot.commands.schema import args_model
from bot.jobs.store import JobStore
from spotrun.logs import get_logger
from spotrun.protocol import COMMANDS, SUPPORTED_MAJORS, AgentManifest, CommandManifest, CommandSpec

log = get_logger("bot.catalog")

Source = Literal["live", "stored", "built-in", "none"]
_META_KEY = "manifest:{agent}"


@dataclass
class AgentState:
    """What the bot knows about one agent's commands, and from where."""

    config: AgentConfig
    manifest: AgentManifest | None = None
    source: Source = "none"
    refused: str | None = None  # why the bot will not use this agent (a protocol it doesn't speak)
    error: str = ""  # why the last read of the manifest failed

    def status_line(self) -> str:
        """One line for /status: version, protocol and where the commands came from."""
        if self.refused:
            return f"✗ refused: {self.refused}"
        m = self.manifest
        if m is None:
            if self.source == "built-in":
                return f"manifest not read yet ({self.error or 'no answer'}): built-in commands"
            return f"✗ no commands: manifest unreadable ({self.error or 'no answer'}) and none stored"
        where = {"live": "", "stored": f" (stored copy; live read failed: {self.error or 'no answer'})"}
        revision = f" · {m.revision}" if m.revision else ""
        return f"version {m.version}{revision} · protocol {m.protocol}{where.get(self.source, '')}"


def spec_from_manifest(agent: str, cm: CommandManifest) -> CommandSpec:
    """A command as the bot uses it (parsing, checks, help, slash options), from its manifest."""
    return CommandSpec(
        command=cm.name,
        family=agent,
        args=args_model(cm.name, cm.args_schema),
        needs_file=cm.files.min > 0,
        file_kinds=tuple(cm.files.kinds),
        file_words=cm.files.words,
        max_files=cm.files.max,
        costs_money=cm.costs_money,
        summary=cm.description,
        usage=cm.usage,
        example=cm.examples[0] if cm.examples else f"!{cm.name}",
        examples=tuple(cm.examples[1:]),
        requests=tuple(cm.requests),
        limits=cm.limits,
    )


def refusal(manifest: AgentManifest) -> str | None:
    if manifest.protocol_major in SUPPORTED_MAJORS:
        return None
    spoken = ", ".join(f"{m}.x" for m in sorted(SUPPORTED_MAJORS))
    return (
        f"it speaks protocol {manifest.protocol}; this bot speaks {spoken} — "
        "upgrade the bot or redeploy the agent"
    )


class Catalog:
    """Command name -> CommandSpec for every agent in the registry, from manifests."""

    def __init__(
        self, registry: AgentRegistry, client: AgentClient, store: JobStore, *, timeout_s: float = 5.0
    ):
        self._registry = registry
        self._client = client
        self._store = store
        self._timeout_s = timeout_s
        self.agents = {a.name: AgentState(a) for a in registry}
        self._specs: dict[str, CommandSpec] = {}
        # Called after the command set changed (the bot rebuilds and re-syncs its commands).
        self._listeners: list[Callable[[], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        client.on_new_build(self._on_new_build)

    # ------------------------------------------------------------------------- reading

    def specs(self) -> dict[str, CommandSpec]:
        return dict(self._specs)

    def spec(self, name: str) -> CommandSpec | None:
        return self._specs.get(name)

    def on_change(self, listener: Callable[[], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    # ------------------------------------------------------------------------- loading

    async def load(self) -> None:
        """Read every agent's manifest at once (each bounded by the timeout), falling back to the
        stored copy, then to the protocol's table for a built-in agent."""
        await asyncio.gather(*(self._read(name) for name in self.agents))
        self._rebuild()

    async def refresh(self, agent: str) -> bool:
        """Re-read one agent's manifest; True when the bot's command set changed."""
        before = self._fingerprint()
        await self._read(agent)
        self._rebuild()
        changed = self._fingerprint() != before
        if changed:
            for listener in self._listeners:
                await listener()
        return changed

    async def _read(self, agent: str) -> None:
        state = self.agents[agent]
        manifest, error = await self._client.manifest(agent, timeout_s=self._timeout_s)
        state.error = error
        if manifest is not None:
            old = state.manifest
            if old is not None and old.build != manifest.build:
                log.info(
                    "agent version changed",
                    agent=agent,
                    previous=old.build,
                    now=manifest.build,
                    protocol=manifest.protocol,
                )
            state.refused = refusal(manifest)
            if state.refused:
                log.error("agent refused", agent=agent, reason=state.refused)
                state.manifest, state.source = manifest, "live"
                return
            state.manifest, state.source = manifest, "live"
            await self._store.set_meta(_META_KEY.format(agent=agent), manifest.model_dump_json())
            return
        if state.manifest is not None and state.source in ("live", "stored"):
            return  # keep what we had: a cold agent does not lose its commands
        stored = await self._store.get_meta(_META_KEY.format(agent=agent))
        if stored is not None:
            try:
                copy = AgentManifest.model_validate_json(stored)
            except ValidationError:
                copy = None
            if copy is not None:
                state.refused = refusal(copy)
                state.manifest, state.source = copy, "stored"
                log.warning("agent manifest unreadable, using the stored copy", agent=agent, error=error)
                return
        state.manifest = None
        state.source = "built-in" if any(c in COMMANDS for c in state.config.commands) else "none"
        log.warning("agent manifest unreadable and none stored", agent=agent, error=error, using=state.source)

    def _rebuild(self) -> None:
        specs: dict[str, CommandSpec] = {}
        for name, state in self.agents.items():
            routed = set(state.config.commands)  # the registry routes calls: only its commands
            if state.refused:
                continue
            if state.manifest is not None:
                for cm in state.manifest.commands:
                    if cm.name in routed:
                        specs[cm.name] = spec_from_manifest(name, cm)
                    else:
                        log.warning(
                            "manifest command not in the registry; ignored", agent=name, command=cm.name
                        )
            elif state.source == "built-in":
                specs.update({c: COMMANDS[c] for c in state.config.commands if c in COMMANDS})
        self._specs = specs

    def _fingerprint(self) -> list[str]:
        return sorted(
            s.model_dump_json(exclude={"args"}) + repr(s.args.model_json_schema())
            for s in self._specs.values()
        )

    def _on_new_build(self, agent: str, build: str, previous: str | None) -> None:
        state = self.agents.get(agent)
        if state is None or (state.manifest is not None and state.manifest.build == build):
            return
        log.info("agent build seen; re-reading its manifest", agent=agent, build=build, previous=previous)
        task = asyncio.get_running_loop().create_task(self._refresh_quietly(agent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh_quietly(self, agent: str) -> None:
        try:
            await self.refresh(agent)
        except Exception:
            log.exception("manifest refresh failed", agent=agent)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
