"""Shared helpers for the image-gen tests: run the real agent app on loopback and call it."""

from __future__ import annotations

import base64
import io
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

from agents.common import AgentSettings
from agents.image_gen.app import build
from agents.image_gen.settings import ImageGenSettings
from spotrun.config import load_settings
from tests.helpers import serve


@asynccontextmanager
async def fake(fake_server: Any) -> AsyncIterator[str]:
    """Serve a provider fake; tell it its own URL (for the links it hands out)."""
    async with serve(fake_server.app()) as url:
        fake_server.base_url = url
        yield url


@asynccontextmanager
async def image_agent(**imagegen: Any) -> AsyncIterator[str]:
    app: web.Application = build(
        load_settings(AgentSettings, auth="none"), load_settings(ImageGenSettings, **imagegen)
    )
    async with serve(app) as url:
        yield url


async def call(
    url: str,
    command: str,
    args: dict[str, Any],
    files: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    deadline_s: float | None = None,
) -> tuple[int, dict[str, Any]]:
    job_id = uuid.uuid4().hex
    body = {
        "job_id": job_id,
        "command": command,
        "args": args,
        "files": [
            {"name": n, "content_type": ct, "data": base64.b64encode(d).decode()} for n, ct, d in files
        ],
        "context": {"user_id": "42"},
        "deadline_s": deadline_s,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/{command}", json=body, headers={"Idempotency-Key": job_id}) as resp,
    ):
        return resp.status, await resp.json()


def file_bytes(file: dict[str, Any]) -> bytes:
    # The protocol serialises bytes as URL-safe base64 (pydantic's ser_json_bytes="base64").
    return base64.urlsafe_b64decode(file["data"])


def decode(file: dict[str, Any]) -> Image.Image:
    img = Image.open(io.BytesIO(file_bytes(file)))
    img.load()
    return img


def png(width: int, height: int, mode: str = "RGB", noise: bool = False) -> bytes:
    if noise:
        img = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        img = Image.new(mode, (width, height))
        img.putdata(
            [
                ((x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256)[: len(mode)]
                for y in range(height)
                for x in range(width)
            ]
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
