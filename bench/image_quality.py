"""`!enhance` fidelity on public real photos, next to Pillow's bicubic and LANCZOS in the same run.

Protocol (the usual one for super-resolution): take a real photo, downscale it ×s with bicubic,
enlarge it back ×s, and score the result against the original with an independent scorer
(scikit-image's PSNR and SSIM). Photos come from packages (scikit-image's `data` directory and
matplotlib's sample data), so nothing is downloaded or committed. The sharpening was tuned on
the even-numbered photos only; `held_out` scores the odd-numbered ones.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench._util import Row, median

# Real photographs only (no synthetic, text or microscopy images); sizes 300×451 to 2964×1988.
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "camera.png",
    "retina.jpg",
    "brick.png",
    "gravel.png",
    "hubble_deep_field.jpg",
)
MAX_PIXELS = 1_500_000  # larger photos are halved first, to keep the run short
# "old default": LANCZOS then this fixed mask, the default until issue 13.
OLD_UNSHARP = ImageFilter.UnsharpMask(radius=2, percent=120, threshold=2)


def photos() -> list[tuple[str, Image.Image]]:
    import matplotlib
    from skimage import data

    folder = Path(data.__file__).parent
    paths = [folder / name for name in SKIMAGE_PHOTOS]
    paths.append(Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg")
    out = []
    for path in paths:
        img = Image.open(path).convert("RGB")
        if img.width * img.height > MAX_PIXELS:
            img = img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)
        out.append((path.name, img))
    return out


def _agent(img: Image.Image, scale: int) -> Image.Image:
    from agents.image_gen.enhance import enhance
    from spotrun.protocol import EnhanceArgs

    return enhance(img, EnhanceArgs(scale=scale))  # the command's defaults


def _resize(method: Image.Resampling) -> Callable[[Image.Image, int], Image.Image]:
    return lambda img, s: img.resize((img.width * s, img.height * s), method)


METHODS: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "agent default": _agent,
    "Pillow bicubic": _resize(Image.Resampling.BICUBIC),
    "Pillow LANCZOS": _resize(Image.Resampling.LANCZOS),
    "old default": lambda img, s: _resize(Image.Resampling.LANCZOS)(img, s).filter(OLD_UNSHARP),
}


def evaluate(scales: tuple[int, ...] = (2, 4)) -> dict[tuple[str, int, str], tuple[float, float]]:
    """(method, scale, "all"|"held_out") -> (mean PSNR dB, mean SSIM)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    scores: dict[tuple[str, int, str], list[tuple[float, float]]] = {}
    for index, (_, photo) in enumerate(photos()):
        for s in scales:
            w, h = photo.width // s * s, photo.height // s * s
            original = photo.crop((0, 0, w, h))
            small = original.resize((w // s, h // s), Image.Resampling.BICUBIC)
            ref = np.asarray(original)
            for name, method in METHODS.items():
                out = np.asarray(method(small, s))
                pair = (
                    float(peak_signal_noise_ratio(ref, out, data_range=255)),
                    float(structural_similarity(ref, out, channel_axis=2, data_range=255)),
                )
                scores.setdefault((name, s, "all"), []).append(pair)
                if index % 2:
                    scores.setdefault((name, s, "held_out"), []).append(pair)
    return {
        k: (float(np.mean([p for p, _ in v])), float(np.mean([q for _, q in v]))) for k, v in scores.items()
    }


def png_levels(side: int = 4096) -> dict[int, tuple[float, int]]:
    """compress_level -> (seconds, bytes) summed over three photos enlarged to `side` wide."""
    out = {}
    bigs = [p.resize((side, side * p.height // p.width), Image.Resampling.LANCZOS) for _, p in photos()[:3]]
    for level in (1, 4, 6):
        seconds, size = 0.0, 0
        for big in bigs:
            times = []
            for _ in range(3):
                buf = io.BytesIO()
                t = time.perf_counter()
                big.save(buf, "PNG", compress_level=level)
                times.append(time.perf_counter() - t)
            seconds += median(times)
            size += buf.tell()
        out[level] = (seconds, size)
    return out


def rows() -> list[Row]:
    scores = evaluate()
    out = []
    for s in (2, 4):
        lanczos = scores[("Pillow LANCZOS", s, "all")]
        for name in METHODS:
            psnr, ssim = scores[(name, s, "all")]
            held = scores[(name, s, "held_out")]
            is_base = name == "Pillow LANCZOS"
            out.append(
                Row(
                    "engines",
                    f"enhance x{s} PSNR (11 photos): {name}",
                    psnr,
                    "dB",
                    "" if is_base else "LANCZOS",
                    None if is_base else psnr / lanczos[0],
                    f"SSIM {ssim:.4f} (LANCZOS {lanczos[1]:.4f}); "
                    f"held-out PSNR {held[0]:.2f} SSIM {held[1]:.4f}",
                )
            )
    levels = png_levels()
    slow_s, slow_b = levels[6]
    for level in (4, 1):
        fast_s, fast_b = levels[level]
        chosen = " (agent, > 4 MP)" if level == 4 else ""
        out.append(
            Row(
                "engines",
                f"PNG 3 photos 4096 wide, level {level}{chosen}",
                fast_s,
                "s",
                "level 6",
                fast_s / slow_s,
                f"size {fast_b / 2**20:.1f} MiB vs {slow_b / 2**20:.1f} MiB "
                f"(+{(fast_b / slow_b - 1) * 100:.0f} %)",
            )
        )
    out.append(Row("engines", "PNG 3 photos 4096 wide, level 6 (comparison)", slow_s, "s"))
    return out


if __name__ == "__main__":
    from bench._util import render_table

    print(render_table(rows()))
