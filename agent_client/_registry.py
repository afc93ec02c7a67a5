"""The agent registry: which agent serves which command, where, and with what limits."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent_client._exceptions import RegistryError
from spotrun.protocol import CommandName


class AgentConfig(BaseModel):
    """One deployed agent. CPU and memory are what Cloud Run bills, used for cost estimates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,48}$")
    base_url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    audience: str | None = None
    # Names only: what each command takes is in the agent's manifest (GET /v1/manifest).
    commands: tuple[CommandName, ...] = Field(min_length=1)
    timeout_s: float = Field(default=300.0, gt=0, le=3600)
    retries: int = Field(default=2, ge=0, le=10)
    max_concurrency: int = Field(default=10, ge=1, le=1000)
    cpu: float = Field(default=1.0, gt=0, le=8)
    memory_gib: float = Field(default=0.5, gt=0, le=32)
    auth: Literal["google", "none"] = "google"
    breaker_failures: int = Field(default=5, ge=1, le=100)
    breaker_cooldown_s: float = Field(default=30.0, gt=0, le=3600)

    @property
    def id_token_audience(self) -> str:
        # Cloud Run's audience is the service URL without a path, unless a custom one is set.
        if self.audience:
            return self.audience
        scheme, rest = self.base_url.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"

    def url_for(self, command: str) -> str:
        return f"{self.base_url.rstrip('/')}/v1/{command}"


class AgentRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: tuple[AgentConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> AgentRegistry:
        names = [a.name for a in self.agents]
        if len(set(names)) != len(names):
            raise ValueError(f"agent names must be unique: {names}")
        seen: dict[str, str] = {}
        for agent in self.agents:
            for command in agent.commands:
                if command in seen:
                    raise ValueError(
                        f"command {command!r} is served by both {seen[command]!r} and {agent.name!r}"
                    )
                seen[command] = agent.name
        return self

    def __iter__(self) -> Iterator[AgentConfig]:  # type: ignore[override]
        return iter(self.agents)

    def get(self, name: str) -> AgentConfig:
        for agent in self.agents:
            if agent.name == name:
                return agent
        raise RegistryError(f"no agent named {name!r} in the registry", agent=name)

    def for_command(self, command: str) -> AgentConfig:
        for agent in self.agents:
            if command in agent.commands:
                return agent
        raise RegistryError(f"no agent serves {command!r}", command=command)

    @classmethod
    def from_data(cls, data: Any, source: str = "<data>") -> AgentRegistry:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise RegistryError(f"invalid agent registry {source}: {problems}") from None


def load_registry(path: str | Path) -> AgentRegistry:
    """Read a YAML or TOML registry file (top-level key `agents`: a list)."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"cannot read agent registry {p}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw) if p.suffix == ".toml" else yaml.safe_load(raw)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise RegistryError(f"agent registry {p} is not valid {p.suffix[1:]}: {exc}") from None
    return AgentRegistry.from_data(data, source=str(p))
