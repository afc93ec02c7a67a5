"""A loopback fake of Google Cloud Text-to-Speech and Speech-to-Text v1 REST, recording what it receives."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeGoogleSpeech:
    audio: bytes = b""  # what text:synthesize returns (base64-encoded, as Google does)
    transcript: str = "hello from the fake google recognizer"
    fail_status: int | None = None  # answer every call with this status and a Google error body
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/text:synthesize", self._synthesize)
        app.router.add_post("/v1/speech:recognize", self._recognize)
        return app

    async def _common(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        body = await request.json()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "json": body})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not request.headers.get("Authorization", "").startswith("Bearer ya29."):
            return body, _error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
        if self.fail_status:
            return body, _error(
                self.fail_status,
                "fake failure",
                "INTERNAL" if self.fail_status >= 500 else "INVALID_ARGUMENT",
            )
        return body, None

    async def _synthesize(self, request: web.Request) -> web.Response:
        body, error = await self._common(request)
        if error:
            return error
        if not body.get("input", {}).get("text") or "languageCode" not in body.get("voice", {}):
            return _error(400, "input.text and voice.languageCode are required", "INVALID_ARGUMENT")
        return web.json_response({"audioContent": base64.b64encode(self.audio).decode()})

    async def _recognize(self, request: web.Request) -> web.Response:
        body, error = await self._common(request)
        if error:
            return error
        config, audio = body.get("config", {}), body.get("audio", {})
        if not config.get("languageCode") or "content" not in audio:
            return _error(400, "config.languageCode and audio.content are required", "INVALID_ARGUMENT")
        base64.b64decode(audio["content"], validate=True)
        half = len(self.transcript.split()) // 2
        words = self.transcript.split()
        # Two results, as Google returns for consecutive stretches of speech.
        return web.json_response(
            {
                "results": [
                    {
                        "alternatives": [{"transcript": " ".join(words[:half]), "confidence": 0.9}],
                        "languageCode": "en-us",
                    },
                    {"alternatives": [{"transcript": " " + " ".join(words[half:]), "confidence": 0.8}]},
                ],
                "totalBilledTime": "15s",
            }
        )


def _error(status: int, message: str, reason: str) -> web.Response:
    return web.Response(
        status=status,
        content_type="application/json",
        text=json.dumps({"error": {"code": status, "message": message, "status": reason}}),
    )
