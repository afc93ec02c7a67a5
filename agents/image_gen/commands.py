"""The three command handlers: validate input, call Pillow or the provider, package files for Discord."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from agents.common import AgentFailure, Job, Output, isolate
from agents.image_gen import enhance as enhancing
from agents.image_gen import images
from agents.image_gen.providers import ImageProvider, ProviderResult, not_configured
from agents.image_gen.settings import ImageGenSettings
from spotrun.logs import get_logger
from spotrun.protocol import EmbedField, EnhanceArgs, ErrorCode, GenerateArgs, OutputFile, StyleTransferArgs

log = get_logger("agents.image_gen")
T = TypeVar("T")

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


def _fit_all(datas: list[bytes], max_bytes: int, provider: str, max_pixels: int) -> list[images.Encoded]:
    return [images.fit_provider_image(data, max_bytes, provider, max_pixels) for data in datas]


async def _isolated(job: Job, fn: Callable[..., T], *args: Any, what: str) -> T:
    """Run Pillow work in a killable, memory-capped child while holding a heavy slot."""
    settings = job.app[IMAGEGEN]
    async with job.heavy():
        # Stop the work a little before the job's deadline, so the user reads *why* (a
        # non-retryable timeout) rather than the runtime's generic deadline error.
        timeout = job.remaining() - PACKAGING_MARGIN_S
        if timeout <= 0:
            raise AgentFailure(ErrorCode.TIMEOUT, f"no time was left for {what}", retryable=False)
        return await isolate.run(fn, *args, memory_mb=settings.work_memory_mb, timeout_s=timeout, what=what)


async def _package(job: Job, result: ProviderResult, stem: str) -> tuple[list[OutputFile], list[str]]:
    settings = job.app[IMAGEGEN]
    provider = _provider(job).name.split(":")[0]
    files, notes = [], list(result.warnings)
    encoded = await _isolated(
        job,
        _fit_all,
        result.images,
        settings.max_output_bytes,
        provider,
        settings.max_output_pixels,
        what=f"checking {provider}'s images",
    )
    for i, enc in enumerate(encoded, start=1):
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


def _style_input(data: bytes, name: str, max_pixels: int, max_decoded_bytes: int) -> bytes:
    header = images.probe(data, name, max_pixels, max_decoded_bytes)
    header.draft(None, (STYLE_INPUT_SIDE, STYLE_INPUT_SIDE))  # JPEG: decode at reduced size
    img = images.decode(header, name)
    img.thumbnail((STYLE_INPUT_SIDE, STYLE_INPUT_SIDE))
    return images.to_png(img)


async def style_transfer(job: Job) -> Output:
    args: StyleTransferArgs = job.args
    provider = _provider(job)
    upload = job.file()
    settings = job.app[IMAGEGEN]
    png = await _isolated(
        job,
        _style_input,
        upload.content(),
        upload.name,
        settings.max_input_pixels,
        settings.max_decoded_bytes,
        what=f"reading {upload.name}",
    )
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


def _limits(settings: ImageGenSettings) -> enhancing.Limits:
    return enhancing.Limits(
        max_input_pixels=settings.max_input_pixels,
        max_output_pixels=settings.max_output_pixels,
        max_decoded_bytes=settings.max_decoded_bytes,
        max_output_bytes=settings.max_output_bytes,
    )


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0][:100] or "image"


async def _provider_upscale(job: Job, args: EnhanceArgs) -> Output:
    """`enhance engine=provider`: the caps are checked here, then one call to the provider's model."""
    provider = job.app[PROVIDER]
    if provider is None:
        raise AgentFailure(
            ErrorCode.PROVIDER_NOT_CONFIGURED,
            "enhance engine=provider needs a super-resolution provider on the image-gen agent — set "
            "SPOTRUN_IMAGEGEN_PROVIDER=vertex or SPOTRUN_IMAGEGEN_PROVIDER=replicate (with "
            "SPOTRUN_IMAGEGEN_REPLICATE_API_TOKEN=…), or use engine=local",
        )
    upload = job.file()
    settings = job.app[IMAGEGEN]
    sent, (width, height) = await _isolated(
        job,
        enhancing.upscale_input,
        upload.content(),
        upload.name,
        args.scale,
        _limits(settings),
        what=f"reading {upload.name}",
    )
    result = await provider.upscale(sent, args.scale, timeout_s=_budget(job))
    model = result.model or provider.name
    label = model.split(":")[0]
    encoded, (out_w, out_h) = await _isolated(
        job,
        enhancing.fit_upscaled,
        result.images[0],
        settings.max_output_bytes,
        label,
        settings.max_output_pixels,
        (width * args.scale, height * args.scale),
        what=f"checking {label}'s image",
    )
    warnings = list(result.warnings) + ([encoded.note] if encoded.note else [])
    if args.denoise:
        warnings.append("denoise is a local step: the super-resolution model restores the image itself")
    log.info("upscaled", provider=model, scale=args.scale, cost_usd=result.cost_usd)
    return Output(
        title="Enhanced image",
        text=f"super-resolution ×{args.scale}",
        fields=[
            EmbedField(name="Size", value=f"{width}×{height} → {out_w}×{out_h}"),
            EmbedField(name="Provider", value=model),
        ],
        files=[
            OutputFile(
                name=f"{_stem(upload.name)}-enhanced.{encoded.extension}",
                content_type=encoded.content_type,
                data=encoded.data,
            )
        ],
        data={"steps": [f"super-resolution ×{args.scale}"]},
        warnings=warnings,
        provider=model,
        provider_cost_usd=result.cost_usd,
    )


async def enhance(job: Job) -> Output:
    args: EnhanceArgs = job.args
    if args.engine == "provider":
        return await _provider_upscale(job, args)
    upload = job.file()
    encoded, dims = await _isolated(
        job,
        enhancing.enhance_upload,
        upload.content(),
        upload.name,
        args,
        _limits(job.app[IMAGEGEN]),
        what=f"enhancing {upload.name}",
    )
    steps = (
        [f"upscale ×{args.scale}"] * (args.scale > 1)
        + ["denoise"] * args.denoise
        + ["sharpen"] * args.sharpen
    )
    stem = _stem(upload.name)
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
