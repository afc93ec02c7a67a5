"""Replicate predictions API: create (optionally `Prefer: wait`), poll until terminal, download outputs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import time
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from agents.common import AgentFailure
from agents.common.providers import error_detail
from agents.image_gen.providers.base import (
    HttpReply,
    ProviderResult,
    download,
    http_failure,
    send,
    timeout_failure,
)
from agents.image_gen.settings import ImageGenSettings
from spotrun.protocol import ErrorCode

LABEL = "Replicate"
KEY_ENV = "SPOTRUN_IMAGEGEN_REPLICATE_API_TOKEN"
TERMINAL = {"succeeded", "failed", "canceled"}
POLICY = re.compile(r"nsfw|safety|content polic|inappropriate", re.IGNORECASE)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, AgentFailure) and exc.retryable and exc.code is ErrorCode.PROVIDER_ERROR


# A status GET is read-only, so retrying a dropped connection or a 5xx is safe.
POLL_RETRY = {
    "retry": retry_if_exception(_transient),
    "stop": stop_after_attempt(3),
    "wait": wait_exponential(multiplier=0.2, max=2),
    "reraise": True,
}


def _prediction(reply: HttpReply) -> dict[str, Any]:
    if not isinstance(reply.body, dict) or "status" not in reply.body:
        raise AgentFailure(
            ErrorCode.PROVIDER_ERROR, "Replicate answered something that is not a prediction — try again"
        )
    return reply.body


class ReplicateImages:
    def __init__(self, settings: ImageGenSettings, session: aiohttp.ClientSession) -> None:
        assert settings.replicate_api_token is not None  # checked by providers.make_provider
        self._token = settings.replicate_api_token
        self._base = settings.replicate_base_url.rstrip("/")
        self._settings = settings
        self._session = session
        self.name = f"replicate:{settings.replicate_model}"

    async def generate(self, prompt: str, size: str, count: int, *, timeout_s: float) -> ProviderResult:
        side = int(size.split("x")[0])
        # Input names follow black-forest-labs/flux-*; megapixels keeps small sizes cheap.
        inputs = {
            "prompt": prompt,
            "num_outputs": count,
            "aspect_ratio": "1:1",
            "output_format": "png",
            "megapixels": "1" if side >= 1024 else "0.25",
        }
        return await self._run(self._settings.replicate_model, inputs, timeout_s)

    async def style_transfer(
        self, image_png: bytes, style: str, strength: float, *, timeout_s: float
    ) -> ProviderResult:
        # Replicate accepts files inline as data URIs; prompt_strength is flux-dev's img2img knob.
        inputs = {
            "prompt": style,
            "image": "data:image/png;base64," + base64.b64encode(image_png).decode(),
            "prompt_strength": strength,
            "num_outputs": 1,
            "output_format": "png",
        }
        return await self._run(self._settings.replicate_edit_model, inputs, timeout_s)

    async def upscale(self, image_png: bytes, scale: int, *, timeout_s: float) -> ProviderResult:
        # Real-ESRGAN's inputs; face_enhance (GFPGAN) would redraw faces, not restore them.
        inputs = {
            "image": "data:image/png;base64," + base64.b64encode(image_png).decode(),
            "scale": scale,
            "face_enhance": False,
        }
        model = self._settings.replicate_upscale_model
        result = await self._run(
            model, inputs, timeout_s, price_per_image=self._settings.replicate_upscale_price_per_image
        )
        result.model = f"replicate:{model.partition(':')[0]}"
        return result

    # ------------------------------------------------------------------------ internals

    def _headers(self, wait_s: int = 0) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        if wait_s:
            headers["Prefer"] = f"wait={wait_s}"
        return headers

    async def _run(
        self, model: str, inputs: dict[str, Any], timeout_s: float, price_per_image: float | None = None
    ) -> ProviderResult:
        deadline = time.monotonic() + timeout_s
        name, _, version = model.partition(":")
        if version:
            url, body = f"{self._base}/v1/predictions", {"version": version, "input": inputs}
        else:
            url, body = f"{self._base}/v1/models/{name}/predictions", {"input": inputs}
        wait_s = min(self._settings.replicate_wait_s, int(timeout_s))
        reply = await send(
            self._session,
            "POST",
            url,
            label=LABEL,
            timeout_s=timeout_s,
            json=body,
            headers=self._headers(wait_s),
        )
        if reply.status not in (200, 201):
            raise self._failure(reply)
        prediction = _prediction(reply)
        while prediction.get("status") not in TERMINAL:
            left = deadline - time.monotonic()
            if left <= 0:
                await self._cancel(prediction)
                raise timeout_failure(LABEL, timeout_s)
            await asyncio.sleep(min(self._settings.replicate_poll_interval_s, left))
            prediction = await self._poll(prediction, max(0.1, deadline - time.monotonic()))
        return await self._result(prediction, max(0.1, deadline - time.monotonic()), price_per_image)

    async def _poll(self, prediction: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        url = (prediction.get("urls") or {}).get("get") or f"{self._base}/v1/predictions/{prediction['id']}"
        async for attempt in AsyncRetrying(**POLL_RETRY):
            with attempt:
                reply = await send(
                    self._session, "GET", url, label=LABEL, timeout_s=timeout_s, headers=self._headers()
                )
                if reply.status != 200:
                    raise self._failure(reply)
        return _prediction(reply)

    async def _cancel(self, prediction: dict[str, Any]) -> None:
        # Stop the meter on a prediction nobody will read; best effort, the job has already failed.
        url = (prediction.get("urls") or {}).get("cancel")
        if url:
            with contextlib.suppress(AgentFailure):
                await send(self._session, "POST", url, label=LABEL, timeout_s=2, headers=self._headers())

    async def _result(
        self, prediction: dict[str, Any], timeout_s: float, price_per_image: float | None = None
    ) -> ProviderResult:
        status = prediction.get("status")
        error = str(prediction.get("error") or "")
        if status == "failed" and POLICY.search(error):
            raise AgentFailure(
                ErrorCode.CONTENT_POLICY,
                f"Replicate's safety checker refused ({error[:200]}) — rephrase the prompt",
            )
        if status == "failed":
            raise AgentFailure(
                ErrorCode.PROVIDER_ERROR,
                f"the Replicate model failed ({error[:200] or 'no reason given'}) — retry or change input",
                retryable=False,
            )
        if status == "canceled":
            raise AgentFailure(
                ErrorCode.PROVIDER_ERROR, "the Replicate prediction was canceled — run the command again"
            )
        output = prediction.get("output")
        urls = [output] if isinstance(output, str) else [u for u in output or [] if isinstance(u, str)]
        if not urls:
            raise AgentFailure(
                ErrorCode.PROVIDER_ERROR, "Replicate finished without an image — try again", retryable=True
            )
        images = [await download(self._session, u, label=LABEL, timeout_s=timeout_s) for u in urls]
        return ProviderResult(images, self._cost(prediction, len(images), price_per_image))

    def _cost(self, prediction: dict[str, Any], count: int, price_per_image: float | None = None) -> float:
        if price_per_image is None:
            price_per_image = self._settings.replicate_price_per_image
        if price_per_image is not None:
            return count * price_per_image
        seconds = float((prediction.get("metrics") or {}).get("predict_time") or 0.0)
        return seconds * self._settings.replicate_price_per_second

    @staticmethod
    def _failure(reply: HttpReply) -> AgentFailure:
        detail = error_detail(reply.body)
        if reply.status == 401:
            return AgentFailure(
                ErrorCode.PROVIDER_ERROR,
                f"Replicate API token rejected ({detail}) — set a valid token in {KEY_ENV}",
                retryable=False,
            )
        if reply.status == 402:
            return AgentFailure(
                ErrorCode.PROVIDER_ERROR,
                f"Replicate refused for billing reasons ({detail}) — add credit or raise the spend limit",
                retryable=False,
            )
        return http_failure(LABEL, reply.status, detail, KEY_ENV)
