"""Settings shared by every agent process (env prefix SPOTRUN_AGENT_; PORT as Cloud Run sets it)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from spotrun.protocol import MAX_FILE_BYTES
from spotrun.settings_types import CommaList, LogLevel


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_AGENT_", extra="ignore")

    port: int = Field(
        default=8080, ge=1, le=65535, validation_alias=AliasChoices("PORT", "SPOTRUN_AGENT_PORT")
    )
    host: str = "0.0.0.0"
    auth: Literal["google", "none"] = Field(
        default="google", description="`none` only for local runs: Cloud Run IAM is the first gate"
    )
    audience: str | None = Field(
        default=None, description="expected ID-token audience: the service's run.app URL"
    )
    issuers: CommaList[str] = Field(
        default=("https://accounts.google.com", "accounts.google.com"),
        min_length=1,
        description="trusted ID-token issuers",
    )
    certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    allowed_callers: CommaList[str] = Field(
        default=(), description="service-account emails allowed to call (comma list); empty: any valid token"
    )
    max_request_mb: float = Field(default=40.0, gt=0, le=512)
    max_file_mb: float = Field(
        default=MAX_FILE_BYTES / 2**20,
        gt=0,
        le=512,
        description="largest input file accepted (the protocol's 25 MiB by default)",
    )
    request_deadline_s: float = Field(default=300.0, gt=0, le=3600)
    shutdown_grace_s: float = Field(default=8.0, gt=0, le=10)
    memory_mb: float | None = Field(
        default=None, gt=0, description="instance memory that sizes heavy-work slots; default: cgroup limit"
    )
    heavy_wait_s: float = Field(
        default=20.0, ge=0, le=600, description="how long a request may wait for a heavy-work slot (then 429)"
    )
    idempotency_entries: int = Field(default=256, ge=0)
    idempotency_max_mb: float = Field(default=256.0, ge=0)
    log_level: LogLevel = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    project: str | None = Field(
        default=None, validation_alias=AliasChoices("SPOTRUN_AGENT_PROJECT", "GOOGLE_CLOUD_PROJECT")
    )

    @model_validator(mode="after")
    def _audience_for_google(self) -> AgentSettings:
        if self.auth == "google" and not self.audience:
            raise ValueError(
                "SPOTRUN_AGENT_AUDIENCE is required when SPOTRUN_AGENT_AUTH=google "
                "(set it to the service URL, or SPOTRUN_AGENT_AUTH=none for local runs)"
            )
        return self
