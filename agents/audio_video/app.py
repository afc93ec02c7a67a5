"""Builds the audio-video agent app: its handlers, engine probes, settings and Google token warm-up."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from importlib.util import find_spec

from aiohttp import web

from agents.audio_video import openai_stt
from agents.audio_video.handlers import GATE, GOOGLE_TOKEN, MEDIA, convert_media, transcribe, tts
from agents.audio_video.settings import MediaSettings
from agents.common import AgentFailure, AgentSettings, AgentSpec, create_agent_app, isolate, run_agent
from agents.common.google_token import NO_CREDENTIALS, GoogleToken
from spotrun.config import load_settings
from spotrun.protocol import Command, EngineStatus

NAME = "audio-video"


def _tool(name: str, hint: str) -> EngineStatus:
    path = shutil.which(name)
    return EngineStatus(available=path is not None, detail=path or f"not on PATH — apt-get install {hint}")


def engines(app: web.Application) -> dict[str, EngineStatus]:
    # which/find_spec only: /health must answer in milliseconds and never call a provider.
    settings = app[MEDIA]
    token = app[GOOGLE_TOKEN]

    def google(selected: bool, variable: str) -> EngineStatus:
        if not selected:
            return EngineStatus(available=False, detail=f"not selected ({variable})")
        return EngineStatus(
            available=token.state != NO_CREDENTIALS, detail=f"selected; credentials: {token.state}"
        )

    openai_ok = openai_stt.configured(settings)
    return {
        "ffmpeg": _tool("ffmpeg", "ffmpeg"),
        "ffprobe": _tool("ffprobe", "ffmpeg"),
        "espeak-ng": _tool("espeak-ng", "espeak-ng"),
        "pocketsphinx": EngineStatus(
            available=find_spec("pocketsphinx") is not None,
            detail="offline, low accuracy" if find_spec("pocketsphinx") else "pip install 'spotrun[media]'",
        ),
        "google-tts": google(settings.tts_engine == "google", "SPOTRUN_MEDIA_TTS_ENGINE"),
        "google-stt": google(settings.stt_engine == "google", "SPOTRUN_MEDIA_STT_ENGINE"),
        "openai-transcription": EngineStatus(
            available=openai_ok,
            detail=("selected; " if settings.stt_engine == "openai" else "not selected; ")
            + ("configured" if openai_ok else "SPOTRUN_MEDIA_OPENAI_API_KEY not set"),
        ),
    }


def _required(settings: MediaSettings) -> tuple[str, ...]:
    needed = ["ffmpeg", "ffprobe"]
    needed.append("espeak-ng" if settings.tts_engine == "espeak" else "google-tts")
    needed.append(
        {"pocketsphinx": "pocketsphinx", "google": "google-stt", "openai": "openai-transcription"}[
            settings.stt_engine
        ]
    )
    return tuple(needed)


async def _warm_google_token(app: web.Application) -> AsyncIterator[None]:
    """Fetch the first access token in the background so the first job (and /health) know where they stand."""
    settings = app[MEDIA]
    task = None
    if "google" in (settings.tts_engine, settings.stt_engine):

        async def warm() -> None:
            with contextlib.suppress(AgentFailure):  # the state is recorded on the token for /health
                await app[GOOGLE_TOKEN].authorization()

        task = asyncio.create_task(warm())
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _start_isolation(app: web.Application) -> AsyncIterator[None]:
    """Offline transcription runs in killable children: fork them from a server with pocketsphinx loaded."""
    if app[MEDIA].stt_engine != "pocketsphinx":
        yield
        return
    async with isolate.warming(["agents.audio_video.sphinx", "pocketsphinx"]):
        yield


def build(settings: AgentSettings, media: MediaSettings | None = None) -> web.Application:
    media = media or load_settings(MediaSettings)
    app = create_agent_app(
        AgentSpec(
            name=NAME,
            handlers={Command.CONVERT: convert_media, Command.TTS: tts, Command.TRANSCRIBE: transcribe},
            engines=engines,
            contexts=[_warm_google_token, _start_isolation],
            required_engines=_required(media),
            # Every ffmpeg/ffprobe runs under this address-space cap, so it bounds one heavy job:
            # two slots in a 4 GiB instance.
            heavy_job_mb=media.ffmpeg_memory_mb,
            base_mb=256.0,
            reads_pieces=True,  # an upload is written to disk piece by piece
        ),
        settings,
    )
    app[MEDIA] = media
    app[GOOGLE_TOKEN] = GoogleToken("Google Speech-to-Text and Text-to-Speech")
    app[GATE] = asyncio.Semaphore(media.max_parallel)
    return app


def main() -> None:
    run_agent(build, NAME)
