"""A loopback fake of OpenAI's POST /v1/audio/transcriptions (multipart), recording each request's fields."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeOpenAIAudio:
    api_key: str | None = "sk-test-fake-key-123456"
    text: str = "hello from the fake whisper"
    fail_status: int | None = None
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        return app

    async def _transcriptions(self, request: web.Request) -> web.Response:
        fields: dict[str, Any] = {}
        async for part in await request.multipart():
            if part.filename:  # type: ignore[union-attr]
                fields[part.name] = {
                    "filename": part.filename,
                    "content_type": part.headers.get("Content-Type"),
                    "data": await part.read(),
                }
            else:
                fields[part.name] = await part.text()  # type: ignore[union-attr]
        self.requests.append({"headers": dict(request.headers), "fields": fields})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if self.fail_status:
            return _error(self.fail_status, "fake failure", "server_error")
        if "file" not in fields or "model" not in fields:
            return _error(400, "file and model are required", "invalid_request_error")
        return web.json_response({"text": self.text})


def _error(status: int, message: str, code: str) -> web.Response:
    return web.Response(
        status=status,
        content_type="application/json",
        text=json.dumps({"error": {"message": message, "type": code, "code": code}}),
    )
