"""Local enhancement with Pillow: denoise, LANCZOS upscale, unsharp-mask sharpen (CPU-bound, sync)."""

from __future__ import annotations

from PIL import Image, ImageFilter

from agents.common import AgentFailure
from spotrun.protocol import EnhanceArgs, ErrorCode

# Tuned for upscaled photos: strong enough to be visible, threshold keeps flat areas clean.
UNSHARP = ImageFilter.UnsharpMask(radius=2, percent=120, threshold=2)
DENOISE = ImageFilter.MedianFilter(size=3)


def check_output_size(img: Image.Image, scale: int, max_pixels: int) -> None:
    width, height = img.width * scale, img.height * scale
    if width * height > max_pixels:
        smaller = " — use a smaller scale or a smaller image" if scale > 1 else ""
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"scale={scale} would make a {width}×{height} image ({width * height / 1e6:.1f} MP), over "
            f"this agent's {max_pixels / 1e6:.1f} MP output limit{smaller}",
        )


def enhance(img: Image.Image, args: EnhanceArgs) -> Image.Image:
    """Apply the requested steps; denoise first so the upscale does not enlarge the noise."""
    if args.denoise:
        img = img.filter(DENOISE)
    if args.scale > 1:
        img = img.resize((img.width * args.scale, img.height * args.scale), Image.Resampling.LANCZOS)
    if args.sharpen:
        img = img.filter(UNSHARP)
    return img
