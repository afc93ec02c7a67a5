"""Plain-language requests -> the command a user would have typed (issue 14, docs/routing.md).

The router knows commands only through the agents' manifests (their plain-language `requests`
and JSON Schemas), so a new agent is routable without code. The offline router needs no key and
no download; an LLM router is optional and falls back to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import aiohttp

from bot.commands.catalog import Catalog
from bot.router.extract import FileInfo
from bot.router.google import GoogleAccessToken
from bot.router.llm import LlmRouter
from bot.router.offline import OfflineRouter, Thresholds
from bot.router.readings import Decision, Reading, Routable
from bot.router.settings import RouterSettings

__all__ = [
    "Decision",
    "FileInfo",
    "LlmRouter",
    "OfflineRouter",
    "Reading",
    "Routable",
    "Router",
    "RouterSettings",
    "Thresholds",
    "build_router",
    "routables",
]


class Router(Protocol):
    name: str

    async def route(self, text: str, files: Sequence[FileInfo] = (), prefix: str = "!") -> Decision: ...


class _Offline:
    """The offline router behind the async interface the LLM router has."""

    def __init__(self, router: OfflineRouter) -> None:
        self.router = router
        self.name = router.name

    async def route(self, text: str, files: Sequence[FileInfo] = (), prefix: str = "!") -> Decision:
        return self.router.route(text, files, prefix)


def routables(catalog: Catalog) -> list[Routable]:
    """Every command the bot serves, with the JSON Schema its agent published (the built-in
    table's when no manifest was read)."""
    out = []
    for name, spec in sorted(catalog.specs().items()):
        schema = None
        state = catalog.agents.get(spec.family)
        if state is not None and state.manifest is not None:
            schema = next((c.args_schema for c in state.manifest.commands if c.name == name), None)
        out.append(Routable(spec, schema or spec.args.model_json_schema()))
    return out


def build_router(
    commands: Sequence[Routable], settings: RouterSettings, session: aiohttp.ClientSession
) -> Router:
    offline = OfflineRouter(commands)
    if settings.provider == "offline":
        return _Offline(offline)
    token = GoogleAccessToken() if settings.provider == "vertex" else None
    return LlmRouter(commands, settings, session, offline, token=token)
