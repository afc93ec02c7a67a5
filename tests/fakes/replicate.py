"""A loopback Replicate predictions API: create, poll through starting → processing → terminal, file links.

A prediction whose input has `image` and `scale` but no prompt is a super-resolution run
(Real-ESRGAN's inputs): its output is one link to the image scaled by `scale`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes.imagen import make_png


class FakeReplicate:
    """Modes: ok, nsfw (fails with the safety checker's text), fail, canceled, 401, 422, 500, poll500
    (one status poll answers 500), slow (never finishes). `polls_to_finish` sets the progression."""

    def __init__(self, token: str = "r8_test_token_123456") -> None:  # noqa: S107 - a fake's test token
        self.token = token
        self.mode = "ok"
        self.polls_to_finish = 2
        self.predict_time = 2.5
        self.base_url = ""
        self.created: list[dict[str, Any]] = []  # {"path", "body", "prefer"}
        self.polls = 0
        self.cancels = 0
        self._predictions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._sizes: dict[str, tuple[int, int]] = {}  # file name → size, for upscale outputs

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/models/{owner}/{name}/predictions", self._create)
        app.router.add_post("/v1/predictions", self._create)
        app.router.add_get("/v1/predictions/{id}", self._get)
        app.router.add_post("/v1/predictions/{id}/cancel", self._cancel)
        app.router.add_get("/files/{name}", self._file)
        return app

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    @staticmethod
    def _problem(status: int, title: str, detail: str) -> web.Response:
        return web.json_response({"title": title, "detail": detail, "status": status}, status=status)

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.created.append({"path": request.path, "body": body, "prefer": request.headers.get("Prefer")})
        if not self._authorized(request) or self.mode == "401":
            return self._problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        if self.mode == "422":
            return self._problem(
                422, "Input validation failed", "input.num_outputs: Must be less than or equal to 4"
            )
        if self.mode == "500":
            return self._problem(500, "Internal Server Error", "Something went wrong")
        inputs = body.get("input")
        if not isinstance(inputs, dict) or not (inputs.get("prompt") or _is_upscale(inputs)):
            return self._problem(422, "Input validation failed", "input.prompt is required")
        pid = f"pred{next(self._ids)}"
        prediction = {
            "id": pid,
            "model": "/".join(request.path.split("/")[3:5]) if "models" in request.path else None,
            "version": body.get("version"),
            "input": body["input"],
            "status": "starting",
            "output": None,
            "error": None,
            "logs": "",
            "metrics": {},
            "urls": {
                "get": f"{self.base_url}/v1/predictions/{pid}",
                "cancel": f"{self.base_url}/v1/predictions/{pid}/cancel",
            },
            "_polls": 0,
        }
        self._predictions[pid] = prediction
        return web.json_response(self._public(prediction), status=201)

    async def _get(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        prediction = self._predictions.get(request.match_info["id"])
        if prediction is None:
            return self._problem(404, "Not found", "The requested resource could not be found")
        self.polls += 1
        prediction["_polls"] += 1
        if self.mode == "poll500" and prediction["_polls"] == 1:
            return self._problem(500, "Internal Server Error", "Something went wrong")
        if self.mode == "slow" or prediction["_polls"] < self.polls_to_finish:
            prediction["status"] = "processing"
        elif prediction["status"] not in {"succeeded", "failed", "canceled"}:
            self._finish(prediction)
        return web.json_response(self._public(prediction))

    def _finish(self, prediction: dict[str, Any]) -> None:
        prediction["metrics"] = {"predict_time": self.predict_time, "total_time": self.predict_time + 0.4}
        if self.mode == "nsfw":
            prediction["status"] = "failed"
            prediction["error"] = "NSFW content detected. Try running it again, or try a different prompt."
        elif self.mode == "fail":
            prediction["status"] = "failed"
            prediction["error"] = "CUDA out of memory"
        elif self.mode == "canceled":
            prediction["status"] = "canceled"
        elif _is_upscale(prediction["input"]):
            inputs = prediction["input"]
            _, _, b64 = inputs["image"].partition(",")
            with Image.open(io.BytesIO(base64.b64decode(b64))) as src:
                size = (src.width * int(inputs["scale"]), src.height * int(inputs["scale"]))
            name = f"{prediction['id']}-0.png"
            self._sizes[name] = size
            prediction["status"] = "succeeded"
            prediction["output"] = f"{self.base_url}/files/{name}"  # Real-ESRGAN: one URI, not a list
        else:
            n = int(prediction["input"].get("num_outputs", 1))
            prediction["status"] = "succeeded"
            prediction["output"] = [f"{self.base_url}/files/{prediction['id']}-{i}.png" for i in range(n)]

    async def _cancel(self, request: web.Request) -> web.Response:
        prediction = self._predictions.get(request.match_info["id"])
        if prediction is None:
            return self._problem(404, "Not found", "The requested resource could not be found")
        self.cancels += 1
        prediction["status"] = "canceled"
        return web.json_response(self._public(prediction))

    async def _file(self, request: web.Request) -> web.Response:
        await asyncio.sleep(0)
        width, height = self._sizes.get(request.match_info["name"], (32, 32))
        return web.Response(body=make_png(width, height), content_type="image/png")

    @staticmethod
    def _public(prediction: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in prediction.items() if not k.startswith("_")}


def _is_upscale(inputs: dict[str, Any]) -> bool:
    return isinstance(inputs.get("image"), str) and "scale" in inputs and not inputs.get("prompt")
