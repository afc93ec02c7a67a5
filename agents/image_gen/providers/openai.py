"""OpenAI-compatible images API: /v1/images/generations (JSON) and /v1/images/edits (multipart)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import aiohttp

from agents.common import AgentFailure
from agents.common.providers import error_detail
from agents.image_gen.providers.base import (
    HttpReply,
    ProviderResult,
    download,
    http_failure,
    no_upscaler,
    send,
    style_prompt,
)
from agents.image_gen.settings import ImageGenSettings
from spotrun.protocol import ErrorCode

LABEL = "OpenAI"
KEY_ENV = "SPOTRUN_IMAGEGEN_OPENAI_API_KEY"
# https://platform.openai.com/docs/guides/images -- refusals come back as 400 with one of these.
POLICY_CODES = {"content_policy_violation", "moderation_blocked"}
POLICY_TYPES = {"image_generation_user_error"}


class OpenAIImages:
    def __init__(self, settings: ImageGenSettings, session: aiohttp.ClientSession) -> None:
        assert settings.openai_api_key is not None  # checked by providers.make_provider
        self._key = settings.openai_api_key
        self._base = settings.openai_base_url.rstrip("/")
        self._settings = settings
        self._session = session
        self.name = f"openai:{settings.openai_model}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key.get_secret_value()}"}

    @staticmethod
    def _format(model: str) -> dict[str, str]:
        # gpt-image-* always answers base64 and rejects response_format; DALL·E defaults to url.
        return {"response_format": "b64_json"} if model.startswith("dall-e") else {}

    async def generate(self, prompt: str, size: str, count: int, *, timeout_s: float) -> ProviderResult:
        model = self._settings.openai_model
        body = {"model": model, "prompt": prompt, "n": count, "size": size, **self._format(model)}
        reply = await send(
            self._session,
            "POST",
            f"{self._base}/v1/images/generations",
            label=LABEL,
            timeout_s=timeout_s,
            json=body,
            headers=self._headers(),
        )
        images = await self._images(reply, timeout_s)
        return ProviderResult(images, cost_usd=len(images) * self._settings.openai_price_per_image)

    async def style_transfer(
        self, image_png: bytes, style: str, strength: float, *, timeout_s: float
    ) -> ProviderResult:
        model = self._settings.openai_edit_model
        form = aiohttp.FormData()
        form.add_field("image", image_png, filename="image.png", content_type="image/png")
        form.add_field("prompt", style_prompt(style, strength))
        form.add_field("model", model)
        form.add_field("n", "1")
        for key, value in self._format(model).items():
            form.add_field(key, value)
        reply = await send(
            self._session,
            "POST",
            f"{self._base}/v1/images/edits",
            label=LABEL,
            timeout_s=timeout_s,
            data=form,
            headers=self._headers(),
        )
        images = await self._images(reply, timeout_s)
        warnings = ["OpenAI has no strength setting: strength was expressed in the prompt"]
        return ProviderResult(images, len(images) * self._settings.openai_edit_price_per_image, warnings)

    async def upscale(self, image_png: bytes, scale: int, *, timeout_s: float) -> ProviderResult:
        raise no_upscaler(LABEL)

    async def _images(self, reply: HttpReply, timeout_s: float) -> list[bytes]:
        if reply.status != 200:
            raise self._failure(reply)
        items: list[Any] = reply.body.get("data", []) if isinstance(reply.body, dict) else []
        images = []
        for item in items:
            if item.get("b64_json"):
                try:
                    images.append(base64.b64decode(item["b64_json"], validate=True))
                except (binascii.Error, ValueError):
                    raise AgentFailure(
                        ErrorCode.PROVIDER_ERROR,
                        "OpenAI returned a malformed image — try again",
                        retryable=True,
                    ) from None
            elif item.get("url"):
                images.append(await download(self._session, item["url"], label=LABEL, timeout_s=timeout_s))
        if not images:
            raise AgentFailure(
                ErrorCode.PROVIDER_ERROR, "OpenAI answered without any image — try again", retryable=True
            )
        return images

    @staticmethod
    def _failure(reply: HttpReply) -> AgentFailure:
        err = reply.body.get("error", {}) if isinstance(reply.body, dict) else {}
        err = err if isinstance(err, dict) else {}
        detail = error_detail(reply.body)
        if reply.status == 400 and (err.get("code") in POLICY_CODES or err.get("type") in POLICY_TYPES):
            return AgentFailure(
                ErrorCode.CONTENT_POLICY,
                f"OpenAI's safety system refused this request ({detail}) — rephrase the prompt",
            )
        if reply.status == 401:
            return AgentFailure(
                ErrorCode.PROVIDER_ERROR,
                f"OpenAI API key rejected ({detail}) — set a valid key in {KEY_ENV}",
                retryable=False,
            )
        return http_failure(LABEL, reply.status, detail, KEY_ENV)
