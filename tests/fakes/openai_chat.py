"""A loopback OpenAI chat-completions API (/v1/chat/completions) that answers with tool calls.

What it answers is the test's choice (`answer`: request body -> a tool call, several, or None for
a plain reply); it checks what a real provider checks (the key, the tools' shape) and reports
token usage so the router can price the call."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

Call = tuple[str, dict[str, Any]]
Answer = Callable[[dict[str, Any]], Call | list[Call] | None]

_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _error(status: int, message: str, type_: str, code: str | None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": type_, "param": None, "code": code}}, status=status
    )


class FakeOpenAIChat:
    """Modes: ok, 500, 429, slow, garbage (200 with an unusable body), unknown-tool."""

    def __init__(self, api_key: str = "sk-test-router-key") -> None:
        self.api_key = api_key
        self.mode = "ok"
        self.slow_s = 5.0
        self.requests: list[dict[str, Any]] = []
        self.answer: Answer = lambda body: None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        return app

    async def _completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if self.mode == "500":
            return _error(500, "The server had an error while processing your request.", "server_error", None)
        if self.mode == "429":
            return _error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded")
        if self.mode == "slow":
            await asyncio.sleep(self.slow_s)
        if self.mode == "garbage":
            return web.json_response({"object": "chat.completion", "choices": []})
        for tool in body.get("tools") or []:
            fn = tool.get("function") or {}
            if tool.get("type") != "function" or not _FUNCTION_NAME.match(fn.get("name", "")):
                return _error(
                    400, f"Invalid tool: {fn.get('name')!r}", "invalid_request_error", "invalid_value"
                )
            if (fn.get("parameters") or {}).get("type") != "object":
                return _error(
                    400, "function parameters must be an object schema", "invalid_request_error", None
                )
        calls = self.answer(body)
        if self.mode == "unknown-tool":
            calls = ("launch_missiles", {})
        listed = [calls] if isinstance(calls, tuple) else list(calls or [])
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if listed else "I can't help with that.",
        }
        if listed:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(listed)
            ]
        prompt_tokens = len(json.dumps(body)) // 4  # about four characters a token
        return web.json_response(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [
                    {"index": 0, "message": message, "finish_reason": "tool_calls" if listed else "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": 20,
                    "total_tokens": prompt_tokens + 20,
                },
            }
        )
