"""Settings of the image-gen agent (env prefix SPOTRUN_IMAGEGEN_): provider choice, keys, prices, limits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ProviderName = Literal["vertex", "openai", "replicate"]


class ImageGenSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOTRUN_IMAGEGEN_", extra="ignore")

    provider: ProviderName | None = Field(
        default=None, description="who generates images; unset: only `enhance` works"
    )
    provider_timeout_s: float = Field(
        default=120.0, gt=0, le=3600, description="cap on one provider call (the job deadline also bounds it)"
    )

    # Limits. Pillow reads the header first: every cap below is checked before any pixel is
    # allocated, so a decompression bomb costs nothing. The output cap bounds the work: at 16.8 MP
    # (4096×4096) an incompressible RGBA result peaks at ~0.8 GiB while it is encoded.
    max_input_pixels: int = Field(default=40_000_000, gt=0)
    max_output_pixels: int = Field(default=4096 * 4096, gt=0)
    max_decoded_mb: float = Field(
        default=160.0, gt=0, description="an input's decoded size (pixels × bytes per pixel, from the header)"
    )
    # Headroom under Discord's 10 MiB (10,485,760 B) per-file upload limit.
    max_output_bytes: int = Field(default=10_000_000, gt=1024)
    # Pillow work runs in a child process with this much address space (RLIMIT_AS), killed at the
    # job's deadline; it is also the heavy-slot size: 2 slots in a 2 GiB instance.
    work_memory_mb: float = Field(default=896.0, ge=128, description="address-space cap of one image job")

    # Vertex AI Imagen (google-auth default credentials: Workload Identity or the metadata server).
    vertex_project: str | None = Field(default=None, description="default: the credentials' project")
    vertex_location: str = "us-central1"
    vertex_endpoint: str | None = Field(
        default=None, description="default: https://{location}-aiplatform.googleapis.com"
    )
    vertex_model: str = "imagen-3.0-generate-002"
    vertex_edit_model: str = "imagegeneration@006"
    vertex_price_per_image: float = Field(default=0.04, ge=0)
    vertex_edit_price_per_image: float = Field(default=0.02, ge=0)
    # `enhance engine=provider`: Imagen's upscaler (`mode: "upscale"` on this model's :predict).
    vertex_upscale_model: str = "imagegeneration@002"
    vertex_upscale_price_per_image: float = Field(default=0.003, ge=0, description="USD per upscaled image")

    # OpenAI-compatible images API.
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com"
    openai_model: str = "dall-e-2"
    openai_edit_model: str = "gpt-image-1"
    openai_price_per_image: float = Field(default=0.02, ge=0)
    openai_edit_price_per_image: float = Field(default=0.042, ge=0)

    # Replicate. A model is `owner/name` (official model) or `owner/name:version`.
    replicate_api_token: SecretStr | None = None
    replicate_base_url: str = "https://api.replicate.com"
    replicate_model: str = "black-forest-labs/flux-schnell"
    replicate_edit_model: str = "black-forest-labs/flux-dev"
    # `enhance engine=provider`. A community model runs by version (`owner/name:version`); its
    # inputs are `image` and `scale` (Real-ESRGAN's names).
    replicate_upscale_model: str = (
        "nightmareai/real-esrgan:42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"
    )
    replicate_upscale_price_per_image: float = Field(
        default=0.0025, ge=0, description="USD per upscaled image (Real-ESRGAN runs ~2 s on a T4)"
    )
    replicate_price_per_second: float = Field(default=0.0014, ge=0, description="billed on predict_time")
    replicate_price_per_image: float | None = Field(
        default=None, ge=0, description="set for per-image-priced models; overrides per-second"
    )
    replicate_wait_s: int = Field(default=10, ge=0, le=60, description="`Prefer: wait=N`; 0: poll only")
    replicate_poll_interval_s: float = Field(default=1.0, gt=0, le=30)

    @field_validator("provider", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # Helm renders an unset value as "", and "none" reads naturally in a values file.
        if isinstance(value, str) and value.strip().lower() in {"", "none"}:
            return None
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _key_for_provider(self) -> ImageGenSettings:
        # Fail at startup, naming the variable, rather than on the first user's command.
        needed = {"openai": "openai_api_key", "replicate": "replicate_api_token"}.get(self.provider or "")
        if needed and not getattr(self, needed):
            raise ValueError(
                f"SPOTRUN_IMAGEGEN_{needed.upper()} is required "
                f"when SPOTRUN_IMAGEGEN_PROVIDER={self.provider}"
            )
        return self

    @property
    def max_decoded_bytes(self) -> int:
        return int(self.max_decoded_mb * 2**20)

    def vertex_base(self) -> str:
        return (self.vertex_endpoint or f"https://{self.vertex_location}-aiplatform.googleapis.com").rstrip(
            "/"
        )
