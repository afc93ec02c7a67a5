"""Google Cloud Speech-to-Text adapter: POST {base}/v1/speech:recognize with 16 kHz mono FLAC inline."""

from __future__ import annotations

import base64

import aiohttp

from agents.audio_video import provider
from agents.common.google_token import GoogleToken

PROVIDER = "Google Speech-to-Text"


async def transcribe(
    session: aiohttp.ClientSession,
    token: GoogleToken,
    base_url: str,
    flac: bytes,
    language: str,
    timeout_s: float,
) -> tuple[str, float | None]:
    """(transcript, mean confidence); results are consecutive pieces of the audio, joined in order."""
    body = {
        "config": {
            "encoding": "FLAC",
            "sampleRateHertz": 16000,
            "audioChannelCount": 1,
            "languageCode": language,
            "enableAutomaticPunctuation": True,
        },
        "audio": {"content": base64.b64encode(flac).decode()},
    }
    doc = await provider.call(
        session,
        PROVIDER,
        f"{base_url.rstrip('/')}/v1/speech:recognize",
        timeout_s,
        {"Authorization": await token.authorization()},
        json=body,
    )
    pieces, confidences = [], []
    for result in doc.get("results", []):
        alternatives = result.get("alternatives") or [{}]
        pieces.append(str(alternatives[0].get("transcript", "")).strip())
        if "confidence" in alternatives[0]:
            confidences.append(float(alternatives[0]["confidence"]))
    confidence = sum(confidences) / len(confidences) if confidences else None
    return " ".join(p for p in pieces if p), confidence
