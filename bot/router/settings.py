"""Typed settings of the plain-language router (env prefix SPOTRUN_ROUTER_), validated at startup."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RouterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_ROUTER_", extra="ignore")

    enabled: bool = Field(default=True, description="answer mentions, replies and /ask in plain words")
    provider: Literal["offline", "openai", "vertex"] = Field(
        default="offline",
        description="offline: TF-IDF over the manifests (no key, no download); openai: any "
        "OpenAI-compatible chat completions endpoint; vertex: Gemini through Vertex AI's "
        "OpenAI-compatible endpoint. The offline router is always the fallback.",
    )
    base_url: str = Field(
        default="https://api.openai.com/v1",
        pattern=r"^https?://\S+$",
        description="openai: the API base (…/v1); a local or self-hosted server works too",
    )
    # No default for the secret; provider=openai refuses to start without it.
    api_key: SecretStr | None = None
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="default: gpt-4o-mini (openai), google/gemini-2.0-flash-001 (vertex)",
    )
    vertex_project: str | None = None
    vertex_location: str = "us-central1"
    timeout_s: float = Field(default=6.0, gt=0, le=60, description="one provider call, then the fallback")
    price_in_per_mtok_usd: float = Field(default=0.15, ge=0, description="provider price, input tokens")
    price_out_per_mtok_usd: float = Field(default=0.60, ge=0, description="provider price, output tokens")
    max_text_chars: int = Field(default=1500, ge=50, le=4000, description="longer requests are cut")

    @property
    def model_name(self) -> str:
        if self.model:
            return self.model
        return "google/gemini-2.0-flash-001" if self.provider == "vertex" else "gpt-4o-mini"

    @model_validator(mode="after")
    def _complete(self) -> RouterSettings:
        if self.provider == "openai" and self.api_key is None:
            raise ValueError("SPOTRUN_ROUTER_API_KEY is required with SPOTRUN_ROUTER_PROVIDER=openai")
        if self.provider == "vertex" and not self.vertex_project:
            raise ValueError("SPOTRUN_ROUTER_VERTEX_PROJECT is required with SPOTRUN_ROUTER_PROVIDER=vertex")
        return self
