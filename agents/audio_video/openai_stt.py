"""OpenAI-compatible speech-to-text: multipart POST {base}/v1/audio/transcriptions (or a Whisper server)."""

from __future__ import annotations

import aiohttp

from agents.audio_video import provider
from agents.audio_video.settings import OPENAI_DEFAULT_URL, MediaSettings
from agents.common import AgentFailure
from spotrun.protocol import ErrorCode

PROVIDER = "the transcription provider"


def configured(settings: MediaSettings) -> bool:
    # A self-hosted Whisper server may need no key; api.openai.com always does.
    return settings.openai_api_key is not None or settings.openai_base_url.rstrip("/") != OPENAI_DEFAULT_URL


def require_configured(settings: MediaSettings) -> None:
    if not configured(settings):
        raise AgentFailure(
            ErrorCode.PROVIDER_NOT_CONFIGURED,
            "OpenAI transcription has no API key — the "
            "operator must set SPOTRUN_MEDIA_OPENAI_API_KEY (or SPOTRUN_MEDIA_OPENAI_BASE_URL "
            "for a self-hosted Whisper server)",
        )


async def transcribe(
    session: aiohttp.ClientSession, settings: MediaSettings, flac: bytes, language: str, timeout_s: float
) -> str:
    require_configured(settings)
    form = aiohttp.FormData()
    form.add_field("file", flac, filename="audio.flac", content_type="audio/flac")
    form.add_field("model", settings.openai_model)
    # Whisper takes ISO-639-1 ("en"), not a BCP-47 tag ("en-US").
    form.add_field("language", language.split("-")[0].lower())
    form.add_field("response_format", "json")
    headers = {}
    if settings.openai_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.openai_api_key.get_secret_value()}"
    doc = await provider.call(
        session,
        PROVIDER,
        f"{settings.openai_base_url.rstrip('/')}/v1/audio/transcriptions",
        timeout_s,
        headers,
        data=form,
    )
    if not isinstance(doc.get("text"), str):
        raise AgentFailure(
            ErrorCode.PROVIDER_ERROR,
            f"{PROVIDER} answered without a `text` field — check "
            "that SPOTRUN_MEDIA_OPENAI_BASE_URL points at an OpenAI-compatible server",
        )
    return doc["text"].strip()
