"""A loopback OpenAI images API (/v1/images/generations and /v1/images/edits) with real PNG answers."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from aiohttp import web

from tests.fakes.imagen import make_png

DALLE2_SIZES = {"256x256", "512x512", "1024x1024"}


def _error(status: int, message: str, type_: str, code: str | None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": type_, "param": None, "code": code}}, status=status
    )


class FakeOpenAIImages:
    """Modes: ok, url (answers links), policy, 400, 429, 500, slow. Images are 32 px to stay fast."""

    def __init__(self, api_key: str = "sk-test-key-123456") -> None:
        self.api_key = api_key
        self.mode = "ok"
        self.slow_s = 5.0
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""  # set by the test once served, for url-mode links
        self.image: bytes | None = None  # when set, every answered image is these bytes (e.g. a bomb)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/images/generations", self._generations)
        app.router.add_post("/v1/images/edits", self._edits)
        app.router.add_get("/files/{name}", self._file)
        return app

    def _gate(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if self.mode == "429":
            return _error(429, "Rate limit reached for images per minute.", "requests", "rate_limit_exceeded")
        if self.mode == "500":
            return _error(500, "The server had an error while processing your request.", "server_error", None)
        if self.mode == "policy":
            return _error(
                400,
                "Your request was rejected as a result of our safety system.",
                "image_generation_user_error",
                "content_policy_violation",
            )
        if self.mode == "400":
            return _error(400, "Invalid value for 'size'.", "invalid_request_error", "invalid_value")
        return None

    async def _answer(self, n: int, side: int, response_format: str) -> web.Response:
        if self.mode == "slow":
            await asyncio.sleep(self.slow_s)
        if response_format == "url" or self.mode == "url":
            data = [{"url": f"{self.base_url}/files/{side}-{i}.png"} for i in range(n)]
        else:
            data = [
                {"b64_json": base64.b64encode(self.image or make_png(side, side, i)).decode()}
                for i in range(n)
            ]
        return web.json_response({"created": int(time.time()), "data": data})

    async def _generations(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"path": request.path, "body": body})
        if refusal := self._gate(request):
            return refusal
        n, size = body.get("n", 1), body.get("size", "1024x1024")
        if not body.get("prompt") or not isinstance(n, int) or not 1 <= n <= 10 or size not in DALLE2_SIZES:
            return _error(400, "Invalid prompt, n or size.", "invalid_request_error", "invalid_value")
        return await self._answer(n, int(size.split("x")[0]) // 32, body.get("response_format", "url"))

    async def _edits(self, request: web.Request) -> web.Response:
        form = await request.post()
        image = form.get("image")
        self.requests.append({"path": request.path, "body": {k: v for k, v in form.items() if k != "image"}})
        if refusal := self._gate(request):
            return refusal
        if not isinstance(image, web.FileField) or not form.get("prompt"):
            return _error(400, "'image' (file) and 'prompt' are required.", "invalid_request_error", None)
        if not image.file.read(8).startswith(b"\x89PNG"):
            return _error(
                400, "Invalid image file; must be a PNG.", "invalid_request_error", "invalid_image_format"
            )
        fmt = str(form.get("response_format", "b64_json"))
        return await self._answer(int(str(form.get("n", "1"))), 32, fmt)

    async def _file(self, request: web.Request) -> web.Response:
        side = int(request.match_info["name"].split("-")[0])
        return web.Response(body=make_png(side, side), content_type="image/png")
