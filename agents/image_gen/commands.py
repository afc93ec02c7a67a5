"""The three command handlers: validate input, call Pillow or the provider, package files for Discord."""

from __future__ import annotations

import asyncio

from aiohttp import web

from agents.common import AgentFailure, Job, Output
from agents.image_gen import enhance as enhancing
from agents.image_gen import images
from agents.image_gen.providers import ImageProvider, ProviderResult, not_configured
from agents.image_gen.settings import ImageGenSettings
from spotrun.logs import get_logger
from spotrun.protocol import EmbedField, EnhanceArgs, ErrorCode, GenerateArgs, OutputFile, StyleTransferArgs

log = get_logger("agents.image_gen")

IMAGEGEN: web.AppKey[ImageGenSettings] = web.AppKey("imagegen", ImageGenSettings)
PROVIDER: web.AppKey[ImageProvider | None] = web.AppKey("provider")

# Left for packaging the provider's images once it answers (decode check, re-encode, JSON).
PACKAGING_MARGIN_S = 1.0
# Style transfer sends at most this long a side: providers work at ~1 MP and bill by input size.
STYLE_INPUT_SIDE = 1024


def _provider(job: Job) -> ImageProvider:
    provider = job.app[PROVIDER]
    if provider is None:
        raise not_configured()
    return provider


def _budget(job: Job) -> float:
    left = job.remaining() - PACKAGING_MARGIN_S
    if left <= 0:
        raise AgentFailure(ErrorCode.TIMEOUT, "the job's deadline left no time to call the provider — retry")
    return min(job.app[IMAGEGEN].provider_timeout_s, left)


async def _package(job: Job, result: ProviderResult, stem: str) -> tuple[list[OutputFile], list[str]]:
    settings = job.app[IMAGEGEN]
    provider = _provider(job).name.split(":")[0]
    files, notes = [], list(result.warnings)
    for i, data in enumerate(result.images, start=1):
        enc = await asyncio.to_thread(images.fit_provider_image, data, settings.max_output_bytes, provider)
        files.append(
            OutputFile(name=f"{stem}-{i}.{enc.extension}", content_type=enc.content_type, data=enc.data)
        )
        if enc.note:
            notes.append(f"image {i}: {enc.note}")
    return files, notes


async def generate(job: Job) -> Output:
    args: GenerateArgs = job.args
    provider = _provider(job)
    result = await provider.generate(args.prompt, args.size, args.count, timeout_s=_budget(job))
    files, warnings = await _package(job, result, "generate")
    log.info("generated", provider=provider.name, images=len(files), cost_usd=result.cost_usd)
    return Output(
        title=f"Generated {len(files)} image{'s' if len(files) != 1 else ''}",
        text=args.prompt,
        fields=[EmbedField(name="Size", value=args.size), EmbedField(name="Provider", value=provider.name)],
        files=files,
        data={"count": len(files), "size": args.size},
        warnings=warnings,
        provider=provider.name,
        provider_cost_usd=result.cost_usd,
    )


def _style_input(data: bytes, name: str, max_pixels: int) -> bytes:
    img = images.open_image(data, name, max_pixels)
    img.thumbnail((STYLE_INPUT_SIDE, STYLE_INPUT_SIDE))
    return images.to_png(img)


async def style_transfer(job: Job) -> Output:
    args: StyleTransferArgs = job.args
    provider = _provider(job)
    upload = job.file()
    png = await asyncio.to_thread(_style_input, upload.data, upload.name, job.app[IMAGEGEN].max_input_pixels)
    result = await provider.style_transfer(png, args.style, args.strength, timeout_s=_budget(job))
    files, warnings = await _package(job, result, "style")
    return Output(
        title="Style transfer",
        text=args.style,
        fields=[
            EmbedField(name="Strength", value=f"{args.strength:.2f}"),
            EmbedField(name="Provider", value=provider.name),
        ],
        files=files,
        warnings=warnings,
        provider=provider.name,
        provider_cost_usd=result.cost_usd,
    )


def _enhance(
    data: bytes, name: str, args: EnhanceArgs, settings: ImageGenSettings
) -> tuple[images.Encoded, str]:
    img = images.open_image(data, name, settings.max_input_pixels)
    enhancing.check_output_size(img, args.scale, settings.max_output_pixels)
    before = f"{img.width}×{img.height}"
    out = enhancing.enhance(img, args)
    return images.encode_for_discord(out, settings.max_output_bytes), f"{before} → {out.width}×{out.height}"


async def enhance(job: Job) -> Output:
    args: EnhanceArgs = job.args
    upload = job.file()
    encoded, dims = await asyncio.to_thread(_enhance, upload.data, upload.name, args, job.app[IMAGEGEN])
    steps = (
        [f"upscale ×{args.scale}"] * (args.scale > 1)
        + ["denoise"] * args.denoise
        + ["sharpen"] * args.sharpen
    )
    stem = upload.name.rsplit(".", 1)[0][:100] or "image"
    return Output(
        title="Enhanced image",
        text=", ".join(steps) or "no changes requested",
        fields=[EmbedField(name="Size", value=dims)],
        files=[
            OutputFile(
                name=f"{stem}-enhanced.{encoded.extension}",
                content_type=encoded.content_type,
                data=encoded.data,
            )
        ],
        data={"steps": steps},
        warnings=[encoded.note] if encoded.note else [],
        provider="pillow",
    )
