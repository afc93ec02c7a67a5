"""A loopback Vertex AI Imagen `:predict` (generate, edit, upscale); checks the fake metadata token."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

from aiohttp import web
from PIL import Image

TOKEN_PREFIX = "Bearer ya29.fake-access-token-"


def make_png(width: int = 64, height: int = 64, shade: int = 0) -> bytes:
    """A real PNG with a gradient, so encoders and filters have something to work on."""
    img = Image.new("RGB", (width, height))
    img.putdata(
        [
            ((x * 255 // max(1, width - 1) + shade) % 256, y * 255 // max(1, height - 1), 128)
            for y in range(height)
            for x in range(width)
        ]
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _google_error(status: int, message: str, reason: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "status": reason}}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class FakeImagen:
    """Modes: ok, partial (one image RAI-filtered), policy (all filtered), policy_400, 400, 403, 429, 500,
    slow. `upscale_returns` overrides the factor an upscale really applies (a model that ignores it)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.slow_s = 5.0
        self.upscale_returns: int | None = None
        self.requests: list[dict[str, Any]] = []  # {"path", "auth", "body"}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{model_method}",
            self._predict,
        )
        return app

    async def _predict(self, request: web.Request) -> web.Response:
        model, _, method = request.match_info["model_method"].partition(":")
        auth = request.headers.get("Authorization", "")
        body = await request.json()
        self.requests.append({"path": request.path, "model": model, "auth": auth, "body": body})
        if method != "predict":
            return _google_error(404, f"method {method} not found", "NOT_FOUND")
        if not auth.startswith(TOKEN_PREFIX):
            return _google_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
        if self.mode == "403":
            return _google_error(
                403, "Permission 'aiplatform.endpoints.predict' denied on resource", "PERMISSION_DENIED"
            )
        if self.mode == "429":
            return _google_error(
                429, "Quota exceeded for online_prediction_requests_per_base_model", "RESOURCE_EXHAUSTED"
            )
        if self.mode == "500":
            return _google_error(500, "Internal error encountered.", "INTERNAL")
        if self.mode == "slow":
            await asyncio.sleep(self.slow_s)
        if self.mode == "400":
            return _google_error(400, "Image size exceeds the limit for upscaling.", "INVALID_ARGUMENT")
        if self.mode == "policy_400":
            return _google_error(
                400,
                "Image generation failed with the following error: The prompt could not be submitted. "
                "This prompt contains sensitive words that violate Google's Responsible AI practices.",
                "INVALID_ARGUMENT",
            )
        instances = body.get("instances") or []
        params = body.get("parameters") or {}
        if params.get("mode") == "upscale":
            return self._upscale(instances, params)
        if len(instances) != 1 or not instances[0].get("prompt"):
            return _google_error(400, "instances[0].prompt is required", "INVALID_ARGUMENT")
        count = int(params.get("sampleCount", 1))
        if not 1 <= count <= 4:
            return _google_error(400, "sampleCount must be between 1 and 4", "INVALID_ARGUMENT")
        if self.mode == "policy":
            # What Imagen does with includeRaiReason when its filter removes every image.
            reason = "56562880: This prompt may violate our policies about harmful content."
            return web.json_response({"predictions": [{"raiFilteredReason": reason}]})
        side = 32
        source = instances[0].get("image")
        if source is not None:  # an edit: answer an image the size of the input
            side = Image.open(io.BytesIO(base64.b64decode(source["bytesBase64Encoded"]))).width
        predictions: list[dict[str, str]] = [
            {
                "mimeType": "image/png",
                "bytesBase64Encoded": base64.b64encode(make_png(side, side, i)).decode(),
            }
            for i in range(count)
        ]
        if self.mode == "partial":
            predictions[-1] = {"raiFilteredReason": "filtered: person generation"}
        return web.json_response({"predictions": predictions})

    def _upscale(self, instances: list[dict[str, Any]], params: dict[str, Any]) -> web.Response:
        # Vertex AI docs, "Upscale an image": one instance with an (empty) prompt and an image;
        # parameters.mode "upscale" and upscaleConfig.upscaleFactor "x2" or "x4".
        factor = (params.get("upscaleConfig") or {}).get("upscaleFactor")
        if factor not in {"x2", "x4"}:
            return _google_error(400, "upscaleFactor must be x2 or x4", "INVALID_ARGUMENT")
        image = instances[0].get("image") if len(instances) == 1 else None
        if not image or not image.get("bytesBase64Encoded"):
            return _google_error(400, "instances[0].image is required for upscaling", "INVALID_ARGUMENT")
        with Image.open(io.BytesIO(base64.b64decode(image["bytesBase64Encoded"]))) as src:
            width, height = src.size
        scale = self.upscale_returns or int(factor[1])
        out = make_png(width * scale, height * scale)
        return web.json_response(
            {"predictions": [{"mimeType": "image/png", "bytesBase64Encoded": base64.b64encode(out).decode()}]}
        )
