"""Safe image decoding (type, pixel limits, EXIF orientation) and encoding under Discord's upload limit."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

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


# Bytes per pixel once decoded, by Pillow mode (what the header promises, before any pixel exists).
_BYTES_PER_PIXEL = {
    "1": 1,
    "L": 1,
    "P": 1,
    "LA": 2,
    "PA": 2,
    "La": 2,
    "I;16": 2,
    "I;16B": 2,
    "I;16L": 2,
    "RGB": 3,
    "YCbCr": 3,
    "LAB": 3,
    "HSV": 3,
    "RGBA": 4,
    "RGBa": 4,
    "RGBX": 4,
    "CMYK": 4,
    "I": 4,
    "F": 4,
}


def open_header(data: bytes) -> Image.Image:
    """Read an image's header only (no pixels allocated); the caller applies its own caps.

    Pillow's bomb guard would refuse first, with its limit and without the real dimensions: it is
    off for this read. Only for isolated children (agents.common.isolate): it is process-wide.
    """
    guard, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        return Image.open(io.BytesIO(data))
    finally:
        Image.MAX_IMAGE_PIXELS = guard


def probe(data: bytes, name: str, max_pixels: int, max_decoded_bytes: int) -> Image.Image:
    """Read only the header of an untrusted upload and refuse it if decoding would be too big."""
    try:
        img = open_header(data)
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
    # The work converts to RGB(A): count at least 3 bytes a pixel (4 with transparency).
    per_pixel = max(_BYTES_PER_PIXEL.get(img.mode, 8), 3)
    if width * height * per_pixel > max_decoded_bytes:
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"'{name}' ({width}×{height}, {img.mode}) decodes to "
            f"{width * height * per_pixel / 2**20:.0f} MiB; "
            f"the limit is {max_decoded_bytes / 2**20:.0f} MiB — attach a smaller image",
        )
    return img


def decode(img: Image.Image, name: str) -> Image.Image:
    """Decode a probed image into RGB/RGBA, upright, or raise a user-facing failure."""
    try:
        img.load()  # header was fine; a truncated or corrupt body fails here
        img = ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise AgentFailure(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"'{name}' is damaged or truncated and cannot be decoded — attach the original {READABLE} file",
        ) from None
    has_alpha = img.mode in {"RGBA", "LA", "PA"} or (img.mode == "P" and "transparency" in img.info)
    return img.convert("RGBA" if has_alpha else "RGB")


def open_image(data: bytes, name: str, max_pixels: int, max_decoded_bytes: int = 2**40) -> Image.Image:
    """Probe then decode an untrusted upload (the caps apply before any pixel is allocated)."""
    return decode(probe(data, name, max_pixels, max_decoded_bytes), name)


def _save(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


# The PNG encode was most of an enhance's local time. On 4096-wide enhanced photos zlib level 4
# takes 40 % of level 6's time for 5-6 % more bytes (level 1: 25 % of the time, +26 % bytes, which
# pushes outputs near Discord's limit into lossy JPEG): big outputs take level 4 (bench/image_quality.py).
FAST_PNG_PIXELS = 4_000_000
FAST_PNG_LEVEL = 4
# Side of the centre crop that predicts a lossy encode's bytes per pixel.
LOSSY_SAMPLE_SIDE = 1024


class _TooBig(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """Stops an encoder once its output passes the cap: a PNG that cannot fit costs its first
    `cap` bytes of work, not the whole encode (incompressible 16 MP was 7 s and 64 MB)."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def write(self, data: Any, /) -> int:
        if self.tell() + len(data) > self.cap:
            raise _TooBig
        return super().write(data)


def png_params(img: Image.Image) -> dict[str, Any]:
    fast = img.width * img.height > FAST_PNG_PIXELS
    return {"optimize": False, "compress_level": FAST_PNG_LEVEL if fast else 6}


def _png_within(img: Image.Image, max_bytes: int) -> bytes | None:
    buf = _CappedBuffer(max_bytes)
    try:
        img.save(buf, format="PNG", **png_params(img))
    except _TooBig:
        return None
    return buf.getvalue()


def _lossy_factor(img: Image.Image, fmt: str, max_bytes: int) -> float:
    """The linear scale at which a lossy encode of `img` should just fit `max_bytes` (≤ 1)."""
    side = LOSSY_SAMPLE_SIDE
    if img.width * img.height <= side * side * 2:
        return 1.0
    left, top = max(0, (img.width - side) // 2), max(0, (img.height - side) // 2)
    sample = img.crop((left, top, min(img.width, left + side), min(img.height, top + side)))
    try:
        per_pixel = len(_save(sample, fmt, quality=90)) / (sample.width * sample.height)
    except ValueError:
        return 0.5
    fitting_pixels = max_bytes * 0.85 / max(per_pixel, 1e-6)
    return min(1.0, (fitting_pixels / (img.width * img.height)) ** 0.5)


def encode_for_discord(img: Image.Image, max_bytes: int) -> Encoded:
    """PNG when it fits; else JPEG (opaque) or WebP (transparent); else downscale until it fits."""
    png = _png_within(img, max_bytes)
    if png is not None:
        return Encoded(png, "image/png", "png")
    lossy = ("WEBP", "image/webp", "webp") if img.mode == "RGBA" else ("JPEG", "image/jpeg", "jpg")
    # Each full-size lossy try of a big image costs seconds (WebP: ~1 s per MP): size the first one
    # from a crop of the centre, whose bytes per pixel match the whole (a thumbnail would average
    # the detail away and promise too much).
    factor = _lossy_factor(img, lossy[0], max_bytes)
    current = img
    if factor < 1:
        current = img.resize(
            (max(1, int(img.width * factor)), max(1, int(img.height * factor))), Image.Resampling.LANCZOS
        )
    for _ in range(8):
        try:
            data = _save(current, lossy[0], quality=90)
        except ValueError:
            # libwebp refuses very noisy big images (its first partition overflows): shrink and retry.
            factor = 0.7
        else:
            if len(data) <= max_bytes:
                note = f"re-encoded as {lossy[2].upper()} to stay under Discord's upload limit"
                if current is not img:
                    note = f"downscaled to {current.width}×{current.height} and {note}"
                return Encoded(data, lossy[1], lossy[2], note)
            # Lossy size scales roughly with area: shrink by the overshoot, a little extra.
            factor = min(0.9, (max_bytes / len(data)) ** 0.5 * 0.95)
            del data
        size = (max(1, int(current.width * factor)), max(1, int(current.height * factor)))
        current = img.resize(size, Image.Resampling.LANCZOS)
    # The input's limit, not a crash: a 500 would count against the breaker for every user.
    raise AgentFailure(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"the result could not be made smaller than Discord's {max_bytes / 2**20:.0f} MB upload limit — "
        "try a smaller image",
    )


def fit_provider_image(data: bytes, max_bytes: int, provider: str, max_pixels: int) -> Encoded:
    """Check a provider's image decodes; keep its bytes when they already fit, else re-encode.

    A provider's image is as untrusted as an upload: its size is checked on the header first.
    """
    try:
        with open_header(data) as header:
            width, height = header.size
            if width * height > max_pixels:
                raise AgentFailure(
                    ErrorCode.PROVIDER_ERROR,
                    f"{provider} returned a {width}×{height} image ({_megapixels(width * height)}), "
                    f"over this agent's {_megapixels(max_pixels)} limit",
                    retryable=False,
                )
            fmt = (header.format or "").upper()
            header.load()
            if len(data) <= max_bytes and fmt in {"PNG", "JPEG", "WEBP"}:
                ext = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[fmt]
                return Encoded(data, f"image/{'jpeg' if fmt == 'JPEG' else fmt.lower()}", ext)
            img = header.convert("RGBA" if "A" in header.getbands() else "RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise AgentFailure(
            ErrorCode.PROVIDER_ERROR,
            f"{provider} returned data that is not a readable image — try again",
            retryable=True,
        ) from None
    return encode_for_discord(img, max_bytes)


def to_png(img: Image.Image) -> bytes:
    return _save(img, "PNG")


def to_jpeg(img: Image.Image) -> bytes:
    return _save(img, "JPEG", quality=95)
