"""Settings of the agent client (env prefix SPOTRUN_CLIENT_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_CLIENT_", extra="ignore")

    registry_file: Path | None = Field(
        default=None, description="agent registry (YAML/TOML); default: the local agents"
    )
    token_refresh_margin_s: float = Field(default=300.0, ge=0, le=3000)
    backoff_initial_s: float = Field(default=0.2, gt=0, le=10)
    backoff_max_s: float = Field(default=5.0, gt=0, le=120)
    max_retry_after_s: float = Field(default=30.0, gt=0, le=600)
