"""Google Cloud Text-to-Speech adapter: POST {base}/v1/text:synthesize with an OAuth access token."""

from __future__ import annotations

import base64
import binascii

import aiohttp

from agents.audio_video import provider
from agents.common import AgentFailure
from agents.common.google_token import GoogleToken
from spotrun.protocol import ErrorCode

PROVIDER = "Google Text-to-Speech"
ENCODINGS = {"mp3": "MP3", "ogg": "OGG_OPUS", "wav": "LINEAR16"}  # LINEAR16 comes back with a WAV header
_BASE_WPM = 160  # espeak-ng's default rate ≙ Google's speakingRate 1.0


def voice_params(voice: str) -> dict[str, str]:
    """`en`/`en-GB` are languages; `en-US-Neural2-C` is a voice name starting with its language."""
    parts = voice.split("-")
    if len(parts) >= 3:
        return {"languageCode": "-".join(parts[:2]), "name": voice}
    if len(parts) == 1 and voice.lower() == "en":
        return {"languageCode": "en-US"}
    return {"languageCode": voice}


async def synthesize(
    session: aiohttp.ClientSession,
    token: GoogleToken,
    base_url: str,
    text: str,
    voice: str,
    wpm: int,
    fmt: str,
    timeout_s: float,
) -> bytes:
    body = {
        "input": {"text": text},
        "voice": voice_params(voice),
        "audioConfig": {
            "audioEncoding": ENCODINGS[fmt],
            "speakingRate": round(min(4.0, max(0.25, wpm / _BASE_WPM)), 3),
        },
    }
    doc = await provider.call(
        session,
        PROVIDER,
        f"{base_url.rstrip('/')}/v1/text:synthesize",
        timeout_s,
        {"Authorization": await token.authorization()},
        json=body,
    )
    try:
        audio = base64.b64decode(doc["audioContent"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        raise AgentFailure(
            ErrorCode.PROVIDER_ERROR, f"{PROVIDER} answered without audio — try again later", retryable=True
        ) from None
    if not audio:
        raise AgentFailure(ErrorCode.PROVIDER_ERROR, f"{PROVIDER} returned empty audio — try other text")
    return audio
