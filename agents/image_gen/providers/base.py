"""The one interface every image provider implements, and the HTTP helpers they share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from agents.common import AgentFailure, providers
from spotrun.protocol import ErrorCode

# Providers hand back whole images; anything bigger than this is not an image we asked for.
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024


@dataclass
class ProviderResult:
    images: list[bytes]
    cost_usd: float
    warnings: list[str] = field(default_factory=list)
    model: str | None = None  # set when the call used another model than `ImageProvider.name`'s


class ImageProvider(Protocol):
    name: str  # as reported in Usage.provider, e.g. "openai:dall-e-2"

    async def generate(self, prompt: str, size: str, count: int, *, timeout_s: float) -> ProviderResult: ...

    async def style_transfer(
        self, image_png: bytes, style: str, strength: float, *, timeout_s: float
    ) -> ProviderResult: ...

    async def upscale(self, image_png: bytes, scale: int, *, timeout_s: float) -> ProviderResult:
        """Super-resolution of one image by `scale` (2 or 4); the answer is one image."""
        ...


def no_upscaler(label: str) -> AgentFailure:
    """For providers without a super-resolution API: the operator must pick one that has one."""
    return AgentFailure(
        ErrorCode.PROVIDER_NOT_CONFIGURED,
        f"{label} has no super-resolution model — use engine=local, or set "
        "SPOTRUN_IMAGEGEN_PROVIDER=vertex or SPOTRUN_IMAGEGEN_PROVIDER=replicate",
    )


def style_prompt(style: str, strength: float) -> str:
    """Providers without a strength knob get it in words; the style text stays the user's own."""
    degree = "subtly" if strength < 0.35 else "clearly" if strength < 0.7 else "boldly"
    return f"Redraw this image {degree} in the style of: {style}. Keep the subject and composition."


@dataclass
class HttpReply:
    status: int
    body: Any  # parsed JSON, or the text when the body was not JSON


def timeout_failure(label: str, timeout_s: float) -> AgentFailure:
    return providers.timeout(label, timeout_s, "try again later, or ask for fewer images")


def http_failure(label: str, status: int, detail: str, key_env: str) -> AgentFailure:
    """The default meaning of a provider's error status; adapters check content policy first."""
    return providers.status_failure(
        label, status, detail, credentials=key_env, advice="change the prompt or options and retry"
    )


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    label: str,
    timeout_s: float,
    **kwargs: Any,
) -> HttpReply:
    """One HTTP call, bounded by timeout_s; transport problems become protocol failures."""
    try:
        async with session.request(
            method, url, timeout=aiohttp.ClientTimeout(total=timeout_s), **kwargs
        ) as resp:
            text = await resp.text()
            try:
                body: Any = json.loads(text) if text else {}
            except json.JSONDecodeError:
                body = text
            return HttpReply(resp.status, body)
    except TimeoutError:
        raise timeout_failure(label, timeout_s) from None
    except aiohttp.ClientError as exc:
        raise providers.unreachable(label, exc) from None


async def download(session: aiohttp.ClientSession, url: str, *, label: str, timeout_s: float) -> bytes:
    """Fetch an output image URL the provider handed back."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            if resp.status != 200:
                raise providers.upstream(
                    ErrorCode.PROVIDER_ERROR,
                    f"{label}'s image link answered HTTP {resp.status} — try again",
                    retryable=True,
                )
            data = await resp.content.read(MAX_DOWNLOAD_BYTES + 1)
    except TimeoutError:
        raise timeout_failure(label, timeout_s) from None
    except aiohttp.ClientError as exc:
        raise providers.upstream(
            ErrorCode.PROVIDER_ERROR,
            f"could not download {label}'s image ({type(exc).__name__}) — try again",
            retryable=True,
        ) from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise AgentFailure(ErrorCode.PROVIDER_ERROR, f"{label} returned an image over 50 MB — try again")
    return data
