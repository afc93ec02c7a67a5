"""The optional LLM router: one chat-completions call with one tool per command (parameters are
the manifests' JSON Schemas), checked by the same typed models; the offline router answers when
the provider fails, times out or names no known command."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp

from bot.router.extract import FileInfo
from bot.router.offline import OfflineRouter
from bot.router.readings import Decision, Outcome, Reading, Routable, command_line, validate
from bot.router.settings import RouterSettings
from spotrun.logs import get_logger, register_secret

log = get_logger("bot.router.llm")

SYSTEM = (
    "You route a Discord user's request to exactly one tool of a bot, filling its arguments from "
    "the request and the attached files (names, types and table columns are listed). Use column "
    "names exactly as listed. The user may write in any language; keep free text (a prompt, a text "
    "to speak) in the user's words. If no tool fits, answer in one short sentence without calling "
    "a tool. Never invent URLs."
)

# Keys of the manifests' schemas that are for the offline router only, or that providers reject.
_DROP = {"title", "x-words", "x-cues", "x-kind", "default"}

TokenGetter = Callable[[], Awaitable[str]]


class ProviderError(Exception):
    """The provider failed, timed out or answered something unusable: fall back."""


def tool_parameters(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest's JSON Schema as a function's parameters: the same types, enums, bounds and
    required fields, without the router hints."""

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items() if k not in _DROP}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    params: dict[str, Any] = clean(dict(schema))
    params.setdefault("type", "object")
    params.setdefault("properties", {})
    return params


def tools_for(commands: Sequence[Routable]) -> list[dict[str, Any]]:
    tools = []
    for c in commands:
        spec = c.spec
        files = f" Reads {spec.file_words} (attached)." if spec.takes_files else ""
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": spec.command,
                    "description": f"{spec.summary}.{files}"[:1000],
                    "parameters": tool_parameters(c.schema),
                },
            }
        )
    return tools


def describe_files(files: Sequence[FileInfo]) -> str:
    if not files:
        return "No files attached."
    lines = []
    for f in files:
        cols = f"; columns: {', '.join(f.columns)}" if f.columns else ""
        lines.append(f"- {f.name} ({f.content_type}, {f.size} bytes{cols})")
    return "Attached files:\n" + "\n".join(lines)


class LlmRouter:
    """`route` never raises for a provider problem: the offline router's decision comes back with
    a note saying why."""

    def __init__(
        self,
        commands: Sequence[Routable],
        settings: RouterSettings,
        session: aiohttp.ClientSession,
        fallback: OfflineRouter,
        *,
        token: TokenGetter | None = None,
    ) -> None:
        self.commands = {c.spec.command: c for c in commands}
        self.settings = settings
        self.session = session
        self.fallback = fallback
        self.tools = tools_for(commands)
        self._token = token
        self.name = f"llm:{settings.model_name}"
        if settings.api_key is not None:
            register_secret(settings.api_key.get_secret_value())  # never in a log line, whatever echoes it

    def _url(self) -> str:
        s = self.settings
        if s.provider == "vertex":
            return (
                f"https://{s.vertex_location}-aiplatform.googleapis.com/v1/projects/{s.vertex_project}"
                f"/locations/{s.vertex_location}/endpoints/openapi/chat/completions"
            )
        return s.base_url.rstrip("/") + "/chat/completions"

    async def _headers(self) -> dict[str, str]:
        if self._token is not None:
            return {"Authorization": f"Bearer {await self._token()}"}
        key = self.settings.api_key
        return {"Authorization": f"Bearer {key.get_secret_value()}"} if key is not None else {}

    async def route(self, text: str, files: Sequence[FileInfo] = (), prefix: str = "!") -> Decision:
        # "@bot chart bar x=month" is a command as typed: no provider call, no cost.
        explicit = self.fallback.explicit(text, list(files), prefix)
        if explicit is not None:
            return Decision("run" if explicit.problem is None else "need", [explicit], router="offline")
        started = time.perf_counter()
        try:
            decision = await self._ask(text, files, prefix)
        except ProviderError as exc:
            log.warning("llm router failed; offline router answers", error=str(exc))
            decision = self.fallback.route(text, files, prefix)
            decision.note = f"fallback: {exc}"
            return decision
        log.info(
            "llm routed",
            outcome=decision.outcome,
            command=decision.top.command if decision.top else None,
            cost_usd=decision.cost_usd,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return decision

    async def _ask(self, text: str, files: Sequence[FileInfo], prefix: str) -> Decision:
        s = self.settings
        body = {
            "model": s.model_name,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"{text[: s.max_text_chars]}\n\n{describe_files(files)}"},
            ],
            "tools": self.tools,
            "tool_choice": "auto",
            "temperature": 0,
        }
        # One attempt, no retries: the user is waiting and the offline router is a good answer.
        try:
            async with asyncio.timeout(s.timeout_s):
                async with self.session.post(self._url(), json=body, headers=await self._headers()) as resp:
                    if resp.status != 200:
                        detail = (await resp.text())[:200]
                        raise ProviderError(f"HTTP {resp.status}: {detail}")
                    answer = await resp.json(content_type=None)
        except TimeoutError:
            raise ProviderError(f"no answer within {s.timeout_s:g} s") from None
        except (aiohttp.ClientError, json.JSONDecodeError) as exc:
            raise ProviderError(f"{type(exc).__name__}: {exc}") from None
        return self._decide(answer, files, prefix)

    def _decide(self, answer: Any, files: Sequence[FileInfo], prefix: str) -> Decision:
        try:
            message = answer["choices"][0]["message"]
            usage = answer.get("usage") or {}
        except (KeyError, IndexError, TypeError):
            raise ProviderError("an answer without choices") from None
        s = self.settings
        cost = (
            int(usage.get("prompt_tokens") or 0) * s.price_in_per_mtok_usd
            + int(usage.get("completion_tokens") or 0) * s.price_out_per_mtok_usd
        ) / 1_000_000
        calls = message.get("tool_calls") or []
        if not calls:
            return Decision("none", router=self.name, cost_usd=cost)
        readings = []
        for call in calls[:3]:
            fn = call.get("function") or {}
            routable = self.commands.get(fn.get("name", ""))
            if routable is None:
                raise ProviderError(f"the model named an unknown tool {fn.get('name')!r}")
            try:
                raw = json.loads(fn.get("arguments") or "{}")
            except json.JSONDecodeError:
                raise ProviderError("the model's arguments are not JSON") from None
            if not isinstance(raw, dict):
                raise ProviderError("the model's arguments are not an object")
            spec = routable.spec
            args, problem = validate(spec, raw, list(files))
            if args is None:
                readings.append(Reading(spec.command, raw, 1.0, f"{prefix}{spec.command}", problem))
            else:
                line = command_line(spec, args, prefix)
                readings.append(Reading(spec.command, args.model_dump(mode="json"), 1.0, line, problem))
        top = readings[0]
        if len(readings) > 1:
            runnable = [r for r in readings if r.problem is None]
            if runnable:
                return Decision("choose", runnable, router=self.name, cost_usd=cost)
        outcome: Outcome = "run" if top.problem is None else "need"
        return Decision(outcome, readings[:1], router=self.name, cost_usd=cost)
