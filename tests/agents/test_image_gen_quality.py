"""`enhance` fidelity on a real public photo: the default must be at least as faithful as LANCZOS."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.agents.test_image_gen_support import call, decode, image_agent


def _photo() -> Image.Image:
    matplotlib = pytest.importorskip("matplotlib")
    path = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    return Image.open(path).convert("RGB")  # 512×600, a real photograph shipped with matplotlib


def _psnr(a: Image.Image, b: Image.Image) -> float:
    mse = np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.mark.parametrize("scale", [2, 4])
async def test_default_enhance_is_at_least_as_faithful_as_lanczos(scale: int) -> None:
    photo = _photo()
    w, h = photo.width // scale * scale, photo.height // scale * scale
    original = photo.crop((0, 0, w, h))
    small = original.resize((w // scale, h // scale), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    small.save(buf, "PNG")
    async with image_agent() as url:
        status, body = await call(
            url, "enhance", {"scale": scale}, [("small.png", "image/png", buf.getvalue())]
        )
    assert status == 200, body
    ours = decode(body["files"][0]).convert("RGB")
    assert ours.size == original.size
    lanczos = small.resize(original.size, Image.Resampling.LANCZOS)
    bicubic = small.resize(original.size, Image.Resampling.BICUBIC)
    p_ours, p_lanczos, p_bicubic = _psnr(original, ours), _psnr(original, lanczos), _psnr(original, bicubic)
    print(f"\nx{scale}: default {p_ours:.2f} dB, LANCZOS {p_lanczos:.2f} dB, bicubic {p_bicubic:.2f} dB")
    assert p_ours >= p_lanczos >= p_bicubic
