"""Hostile uploads for the containment drill: the bombs of each agent's own tests, sent through the bot."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.agents.bombs import mkv_bomb, png_bomb
from tests.agents.test_data_analysis_bombs import deep_json, deep_ndjson, parquet_bomb
from tests.agents.test_image_gen_bombs import noise_png

Upload = tuple[str, bytes, str]


def hostile_uploads() -> list[tuple[str, list[Upload]]]:
    """(command text, attachments) for each bomb an agent must refuse before decoding."""
    with tempfile.TemporaryDirectory() as tmp:
        mkv = mkv_bomb(Path(tmp) / "bomb.mkv").read_bytes()
    return [
        ("!analyze", [("zeros.parquet", parquet_bomb(), "application/octet-stream")]),
        ("!analyze", [("deep.json", deep_json(600), "application/json")]),
        ("!analyze", [("deeper.json", deep_json(100_000), "application/json")]),
        ("!analyze", [("deep.jsonl", deep_ndjson(600), "application/x-ndjson")]),
        ("!enhance", [("huge.png", png_bomb(20_000, 20_000, color_type=0), "image/png")]),
        ("!enhance scale=4", [("noise.png", noise_png(1500), "image/png")]),
        ("!convert mp4", [("bomb.mkv", mkv, "video/x-matroska")]),
        ("!convert gif", [("bomb.mkv", mkv, "video/x-matroska")]),
    ]
