"""Settings of the audio-video agent (env prefix SPOTRUN_MEDIA_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

OPENAI_DEFAULT_URL = "https://api.openai.com"


class MediaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_MEDIA_", extra="ignore")

    # Limits
    max_input_mb: float = Field(default=25.0, gt=0, le=512, description="largest input file accepted")
    max_duration_s: float = Field(default=600.0, gt=0, description="longest input converted or transcribed")
    max_output_mb: float = Field(default=10.0, gt=0, le=500, description="Discord's default upload limit")
    max_gif_s: float = Field(default=15.0, gt=0, description="GIFs grow fast: longer inputs are cut")
    ffmpeg_timeout_s: float = Field(default=120.0, gt=0, description="one ffmpeg/ffprobe/espeak-ng run")
    max_parallel: int = Field(default=2, ge=1, description="CPU-heavy jobs at once (ffmpeg, pocketsphinx)")
    # Checked on the probe, before anything is decoded: a 2.8 MB MKV of 16000×16000 frames made
    # ffmpeg take 3.1 GB. Frames are limited by pixel count (portrait 2160×3840 is as welcome).
    max_frame_width: int = Field(
        default=3840, ge=16, description="with max_frame_height: the frame pixel cap"
    )
    max_frame_height: int = Field(default=2160, ge=16)
    max_video_frames: int = Field(default=36_000, ge=1, description="600 s at 60 fps")
    max_streams: int = Field(default=8, ge=1, description="each stream is probed by its own decoder")
    ffmpeg_memory_mb: float = Field(
        default=1536.0,
        ge=128,
        description="address-space cap (RLIMIT_AS) of one ffmpeg/ffprobe; the heavy-slot size",
    )
    ffmpeg_threads: int = Field(
        default=4, ge=1, le=16, description="codec threads per ffmpeg (memory grows with them)"
    )
    sphinx_memory_mb: float = Field(
        default=512.0, ge=128, description="address-space cap of one pocketsphinx run"
    )

    # Engines
    tts_engine: Literal["espeak", "google"] = "espeak"
    stt_engine: Literal["pocketsphinx", "openai", "google"] = "pocketsphinx"
    sphinx_max_duration_s: float = Field(
        default=300.0, gt=0, description="offline decoding is ~0.3× real time"
    )
    provider_timeout_s: float = Field(default=60.0, gt=0, description="one provider HTTP call")

    # Google Cloud Text-to-Speech / Speech-to-Text (access token from google-auth default credentials)
    google_tts_url: str = "https://texttospeech.googleapis.com"
    google_stt_url: str = "https://speech.googleapis.com"
    google_tts_cost_per_char: float = Field(default=0.000016, ge=0, description="USD; WaveNet/Neural2 rate")
    google_stt_cost_per_minute: float = Field(default=0.024, ge=0, description="USD; v1 standard rate")
    google_stt_max_duration_s: float = Field(default=60.0, gt=0, description="synchronous recognize limit")

    # OpenAI-compatible /v1/audio/transcriptions (OpenAI, or a self-hosted Whisper server)
    openai_base_url: str = OPENAI_DEFAULT_URL
    openai_api_key: SecretStr | None = None
    openai_model: str = "whisper-1"
    openai_cost_per_minute: float = Field(default=0.006, ge=0, description="USD; whisper-1 rate")
