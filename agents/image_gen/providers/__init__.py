"""Image providers behind one interface; `make_provider` picks the configured one."""

from __future__ import annotations

import aiohttp

from agents.common import AgentFailure
from agents.image_gen.providers.base import ImageProvider, ProviderResult
from agents.image_gen.settings import ImageGenSettings
from spotrun.protocol import ErrorCode

__all__ = ["ImageProvider", "ProviderResult", "make_provider", "not_configured"]

HOW_TO = (
    "set SPOTRUN_IMAGEGEN_PROVIDER=openai and SPOTRUN_IMAGEGEN_OPENAI_API_KEY=…, "
    "or SPOTRUN_IMAGEGEN_PROVIDER=replicate and SPOTRUN_IMAGEGEN_REPLICATE_API_TOKEN=…, "
    "or SPOTRUN_IMAGEGEN_PROVIDER=vertex (with SPOTRUN_IMAGEGEN_VERTEX_PROJECT=… and a service "
    "account that has roles/aiplatform.user)"
)


def not_configured() -> AgentFailure:
    """The failure for a provider command when none is configured; says exactly what to set."""
    return AgentFailure(
        ErrorCode.PROVIDER_NOT_CONFIGURED,
        f"no image provider is configured on the image-gen agent — {HOW_TO}",
    )


def make_provider(settings: ImageGenSettings, session: aiohttp.ClientSession) -> ImageProvider | None:
    """The configured provider, or None (settings validation already checked its key is set)."""
    if settings.provider == "openai":
        from agents.image_gen.providers.openai import OpenAIImages

        return OpenAIImages(settings, session)
    if settings.provider == "replicate":
        from agents.image_gen.providers.replicate import ReplicateImages

        return ReplicateImages(settings, session)
    if settings.provider == "vertex":
        from agents.common.google_token import GoogleToken
        from agents.image_gen.providers.vertex import VertexImagen

        return VertexImagen(settings, session, GoogleToken("Vertex AI", role="roles/aiplatform.user"))
    return None
