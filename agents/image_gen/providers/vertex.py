"""Vertex AI Imagen through the REST `:predict` method, authenticated with an OAuth access token."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import aiohttp

from agents.common import AgentFailure
from agents.common.google_token import GoogleToken
from agents.common.providers import error_detail
from agents.image_gen.providers.base import (
    HttpReply,
    ProviderResult,
    http_failure,
    send,
    style_prompt,
)
from agents.image_gen.settings import ImageGenSettings
from spotrun.protocol import ErrorCode

LABEL = "Vertex AI Imagen"
CREDENTIALS_HINT = "the agent's service account (it needs roles/aiplatform.user)"
ASPECT = {"256x256": "1:1", "512x512": "1:1", "1024x1024": "1:1"}
# Prompts Google's Responsible-AI filter blocks before generating come back as a 400 saying so.
POLICY_WORDS = ("responsible ai", "sensitive words", "violate", "safety filter")


class VertexImagen:
    def __init__(
        self, settings: ImageGenSettings, session: aiohttp.ClientSession, tokens: GoogleToken
    ) -> None:
        self._settings = settings
        self._session = session
        self._tokens = tokens
        self.name = f"vertex:{settings.vertex_model}"

    async def _url(self, model: str) -> str:
        project = self._settings.vertex_project or await self._tokens.project()
        if not project:
            raise AgentFailure(
                ErrorCode.PROVIDER_NOT_CONFIGURED,
                "no Google Cloud project for Vertex AI — set SPOTRUN_IMAGEGEN_VERTEX_PROJECT",
            )
        loc = self._settings.vertex_location
        return (
            f"{self._settings.vertex_base()}/v1/projects/{project}/locations/{loc}"
            f"/publishers/google/models/{model}:predict"
        )

    async def generate(self, prompt: str, size: str, count: int, *, timeout_s: float) -> ProviderResult:
        body = {
            "instances": [{"prompt": prompt}],
            "parameters": {
                "sampleCount": count,
                "aspectRatio": ASPECT.get(size, "1:1"),
                "includeRaiReason": True,
                "outputOptions": {"mimeType": "image/png"},
            },
        }
        images, warnings = await self._predict(self._settings.vertex_model, body, count, timeout_s)
        if size != "1024x1024":
            warnings.append(f"Imagen picks its own resolution for 1:1; {size} was not enforced")
        return ProviderResult(images, len(images) * self._settings.vertex_price_per_image, warnings)

    async def style_transfer(
        self, image_png: bytes, style: str, strength: float, *, timeout_s: float
    ) -> ProviderResult:
        # Mask-free editing: an instance carrying `image` is an edit, not a generation
        # (VisionGenerativeModelInstance: "image ... is required for editing ... used to determine
        # whether the call is editing or generation"), served by imagegeneration@006.
        body = {
            "instances": [
                {
                    "prompt": style_prompt(style, strength),
                    "image": {
                        "bytesBase64Encoded": base64.b64encode(image_png).decode(),
                        "mimeType": "image/png",
                    },
                }
            ],
            "parameters": {"sampleCount": 1, "includeRaiReason": True},
        }
        images, warnings = await self._predict(self._settings.vertex_edit_model, body, 1, timeout_s)
        warnings.append("Imagen has no strength setting: strength was expressed in the prompt")
        return ProviderResult(images, len(images) * self._settings.vertex_edit_price_per_image, warnings)

    async def upscale(self, image_png: bytes, scale: int, *, timeout_s: float) -> ProviderResult:
        # Imagen's upscaler is the model's :predict with parameters.mode "upscale" and
        # upscaleConfig.upscaleFactor "x2"/"x4"; the prompt is empty (Vertex AI docs, "Upscale an image").
        body = {
            "instances": [
                {
                    "prompt": "",
                    "image": {"bytesBase64Encoded": base64.b64encode(image_png).decode()},
                }
            ],
            "parameters": {
                "sampleCount": 1,
                "mode": "upscale",
                "upscaleConfig": {"upscaleFactor": f"x{scale}"},
                "outputOptions": {"mimeType": "image/png"},
            },
        }
        model = self._settings.vertex_upscale_model
        images, warnings = await self._predict(model, body, 1, timeout_s, advice="use engine=local")
        return ProviderResult(
            images[:1], self._settings.vertex_upscale_price_per_image, warnings, model=f"vertex:{model}"
        )

    async def _predict(
        self,
        model: str,
        body: dict[str, Any],
        wanted: int,
        timeout_s: float,
        advice: str = "rephrase the prompt",
    ) -> tuple[list[bytes], list[str]]:
        url = await self._url(model)
        reply = await send(
            self._session,
            "POST",
            url,
            label=LABEL,
            timeout_s=timeout_s,
            json=body,
            headers={"Authorization": await self._tokens.authorization()},
        )
        if reply.status != 200:
            raise self._failure(reply)
        predictions = (reply.body.get("predictions") if isinstance(reply.body, dict) else None) or []
        images, reasons = [], []
        for pred in predictions:
            if pred.get("bytesBase64Encoded"):
                try:
                    images.append(base64.b64decode(pred["bytesBase64Encoded"], validate=True))
                except (binascii.Error, ValueError):
                    raise AgentFailure(
                        ErrorCode.PROVIDER_ERROR,
                        "Imagen returned a malformed image — try again",
                        retryable=True,
                    ) from None
            elif pred.get("raiFilteredReason"):
                reasons.append(str(pred["raiFilteredReason"])[:200])
        if not images:
            # Imagen answers 200 with no (or only filtered) predictions when its safety filter
            # removed every image.
            why = f" ({reasons[0]})" if reasons else ""
            raise AgentFailure(
                ErrorCode.CONTENT_POLICY,
                f"Google's safety filter blocked every image{why} — {advice}",
            )
        warnings = []
        if len(images) < wanted:
            warnings.append(
                f"{wanted - len(images)} of {wanted} images were removed by Google's safety filter"
            )
        return images, warnings

    @staticmethod
    def _failure(reply: HttpReply) -> AgentFailure:
        detail = error_detail(reply.body)
        if reply.status == 400 and any(word in detail.lower() for word in POLICY_WORDS):
            return AgentFailure(
                ErrorCode.CONTENT_POLICY,
                f"Google's safety filter refused the prompt ({detail}) — rephrase it",
            )
        return http_failure(LABEL, reply.status, detail, CREDENTIALS_HINT)
