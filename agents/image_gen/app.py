"""The image-gen agent's app factory and entry point."""

from __future__ import annotations

from collections.abc import AsyncIterator

import PIL
from aiohttp import web

from agents.common import SESSION, AgentSettings, AgentSpec, create_agent_app, isolate, run_agent
from agents.image_gen import commands
from agents.image_gen.commands import IMAGEGEN, PROVIDER
from agents.image_gen.providers import HOW_TO, make_provider
from agents.image_gen.settings import ImageGenSettings
from spotrun.config import load_settings
from spotrun.protocol import Command, EngineStatus

NAME = "image-gen"


def engines(app: web.Application) -> dict[str, EngineStatus]:
    provider = app.get(PROVIDER)
    return {
        "pillow": EngineStatus(available=True, detail=f"Pillow {PIL.__version__}"),
        "provider": EngineStatus(
            available=provider is not None,
            detail=provider.name if provider is not None else f"not configured: {HOW_TO}",
        ),
    }


def build(settings: AgentSettings, imagegen: ImageGenSettings | None = None) -> web.Application:
    imagegen = imagegen or load_settings(ImageGenSettings)

    async def provider_ctx(app: web.Application) -> AsyncIterator[None]:
        # Runs after the runtime's own context, so the shared ClientSession already exists.
        app[PROVIDER] = make_provider(imagegen, app[SESSION])
        yield

    async def isolation_ctx(app: web.Application) -> AsyncIterator[None]:
        # Fork image jobs from a server that already imported Pillow and the pipeline.
        async with isolate.warming(["agents.image_gen.enhance", "agents.image_gen.commands"]):
            yield

    spec = AgentSpec(
        name=NAME,
        handlers={
            Command.GENERATE: commands.generate,
            Command.ENHANCE: commands.enhance,
            Command.STYLE_TRANSFER: commands.style_transfer,
        },
        engines=engines,
        contexts=[provider_ctx, isolation_ctx],
        required_engines=("pillow",),
        # Each image job runs under this address-space cap, so it is the slot size too.
        heavy_job_mb=imagegen.work_memory_mb,
        base_mb=200.0,
        reads_pieces=True,  # handlers read uploads through content()
    )
    app = create_agent_app(spec, settings)
    app[IMAGEGEN] = imagegen
    return app


def main() -> None:
    run_agent(build, NAME)
