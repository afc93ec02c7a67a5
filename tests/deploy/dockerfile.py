"""Reads the repo's one multi-stage Dockerfile the way a builder resolves a single image from it."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import ROOT

DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Image:
    """The config an image built with `--build-arg AGENT=<name>` ends up with (its stage chain folded)."""

    stages: list[str] = field(default_factory=list)  # the chain, base first
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    expose: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)


@dataclass
class _Stage:
    source: str  # as written, e.g. `runtime` or `${AGENT}`
    instructions: list[tuple[str, str]]

    def parent(self, args: dict[str, str]) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), self.source)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, rest) per instruction: comments dropped, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, rest = full.strip().partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _stages(path: Path) -> tuple[dict[str, str], dict[str, _Stage], str]:
    """(global ARG defaults, stages by name, the final stage's name)."""
    args: dict[str, str] = {}
    stages: dict[str, _Stage] = {}
    current: _Stage | None = None
    last_from = ""
    for keyword, rest in _instructions(path.read_text(encoding="utf-8")):
        if keyword == "FROM":
            parts = rest.split()
            current = _Stage(parts[0], [])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else f"#{len(stages)}"
            stages[name] = current
            last_from = name
        elif current is None and keyword == "ARG":
            key, _, default = rest.partition("=")
            args[key] = default
        elif current is not None:
            current.instructions.append((keyword, rest))
    return args, stages, last_from


def global_args() -> dict[str, str]:
    return _stages(DOCKERFILE)[0]


def image(agent: str) -> Image:
    """The image `--build-arg AGENT=agent` builds: the final stage on top of the stage named `agent`."""
    args, stages, final = _stages(DOCKERFILE)
    args = {**args, "AGENT": agent}
    chain = [final]
    parent = stages[final].parent(args)
    while parent in stages:
        chain.append(parent)
        parent = stages[parent].parent(args)
    result = Image(stages=list(reversed(chain)))
    for name in result.stages:
        for keyword, rest in stages[name].instructions:
            if keyword == "ENV":
                for token in shlex.split(rest):
                    key, _, value = token.partition("=")
                    result.env[key] = value
            elif keyword == "ENTRYPOINT":
                result.entrypoint = json.loads(rest)
                result.cmd = []  # Docker resets CMD when a later stage sets ENTRYPOINT
            elif keyword == "CMD":
                result.cmd = json.loads(rest)
            elif keyword == "USER":
                result.user = rest
            elif keyword == "WORKDIR":
                result.workdir = rest
            elif keyword == "EXPOSE":
                result.expose.append(rest)
            elif keyword == "RUN":
                result.runs.append(rest)
    return result
