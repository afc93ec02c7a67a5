"""Safe image decoding (type, pixel limits, EXIF orientation) and encoding under Discord's upload limit."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from agents.common import AgentFailure
from spotrun.protocol import ErrorCode

READABLE = "PNG, JPEG, WebP, GIF, BMP or TIFF"


@dataclass
class Encoded:
    data: bytes
    content_type: str
    extension: str
    note: str | None = None  # set when the image had to be re-encoded or shrunk to fit


def _megapixels(pixels: int) -> str:
    if pixels < 100_000:
        return f"{pixels:,} pixels"
    return f"{pixels / 1_000_000:.1f} MP"


def open_image(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Decode an untrusted upload into an RGB/RGBA image, upright, or raise a user-facing failure."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (not raises) between MAX_IMAGE_PIXELS and twice that; our own
            # limit below is the one that decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fired (over twice Image.MAX_IMAGE_PIXELS): report its count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" ({_megapixels(int(found.group(1)))})" if found else ""
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"'{name}' is far too large{size}, over this agent's {_megapixels(max_pixels)} limit — "
            "attach a smaller image",
        ) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise AgentFailure(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"'{name}' is not an image this agent can read — attach a {READABLE} file",
        ) from None
    width, height = img.size
    if width * height > max_pixels:
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"'{name}' is {width}×{height} ({_megapixels(width * height)}), over this agent's "
            f"{_megapixels(max_pixels)} limit — attach a smaller image",
        )
    try:
        img.load()  # header was fine; a truncated or corrupt body fails here
        img = ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError):
        raise AgentFailure(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"'{name}' is damaged or truncated and cannot be decoded — attach the original {READABLE} file",
        ) from None
    has_alpha = img.mode in {"RGBA", "LA", "PA"} or (img.mode == "P" and "transparency" in img.info)
    return img.convert("RGBA" if has_alpha else "RGB")


def _save(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def encode_for_discord(img: Image.Image, max_bytes: int) -> Encoded:
    """PNG when it fits; else JPEG (opaque) or WebP (transparent); else downscale until it fits."""
    png = _save(img, "PNG", optimize=False, compress_level=6)
    if len(png) <= max_bytes:
        return Encoded(png, "image/png", "png")
    lossy = ("WEBP", "image/webp", "webp") if img.mode == "RGBA" else ("JPEG", "image/jpeg", "jpg")
    current = img
    for _ in range(8):
        data = _save(current, lossy[0], quality=90)
        if len(data) <= max_bytes:
            note = f"re-encoded as {lossy[2].upper()} to stay under Discord's upload limit"
            if current is not img:
                note = f"downscaled to {current.width}×{current.height} and {note}"
            return Encoded(data, lossy[1], lossy[2], note)
        # Lossy size scales roughly with area: shrink by the overshoot, a little extra.
        factor = min(0.9, (max_bytes / len(data)) ** 0.5 * 0.95)
        size = (max(1, int(current.width * factor)), max(1, int(current.height * factor)))
        current = img.resize(size, Image.Resampling.LANCZOS)
    # The input's limit, not a crash: a 500 would count against the breaker for every user.
    raise AgentFailure(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"the result could not be made smaller than Discord's {max_bytes / 2**20:.0f} MB upload limit — "
        "try a smaller image",
    )


def fit_provider_image(data: bytes, max_bytes: int, provider: str) -> Encoded:
    """Check a provider's image decodes; keep its bytes when they already fit, else re-encode."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = (probe.format or "").upper()
            probe.load()
            if len(data) <= max_bytes and fmt in {"PNG", "JPEG", "WEBP"}:
                ext = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[fmt]
                return Encoded(data, f"image/{'jpeg' if fmt == 'JPEG' else fmt.lower()}", ext)
            img = probe.convert("RGBA" if "A" in probe.getbands() else "RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise AgentFailure(
            ErrorCode.PROVIDER_ERROR,
            f"{provider} returned data that is not a readable image — try again",
            retryable=True,
        ) from None
    return encode_for_discord(img, max_bytes)


def to_png(img: Image.Image) -> bytes:
    return _save(img, "PNG")
