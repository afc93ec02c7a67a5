"""The image-gen agent end to end over HTTP: enhance with real Pillow, input limits, no provider."""

from __future__ import annotations

import io

import aiohttp
import pytest
from PIL import Image, ImageChops

from agents.common import AgentFailure
from agents.image_gen.images import encode_for_discord
from agents.image_gen.settings import ImageGenSettings
from spotrun.config import SettingsError, load_settings
from tests.agents.test_image_gen_support import call, decode, file_bytes, image_agent, png


async def test_enhance_x2_and_x4_exact_dimensions() -> None:
    async with image_agent() as url:
        for scale in (2, 4):
            status, body = await call(
                url, "enhance", {"scale": scale}, [("cat.png", "image/png", png(50, 30))]
            )
            assert status == 200, body
            out = decode(body["files"][0])
            assert out.size == (50 * scale, 30 * scale)
            assert out.format == "PNG" and body["files"][0]["name"] == "cat-enhanced.png"
            assert body["usage"]["provider"] == "pillow" and body["usage"]["provider_cost_usd"] == 0


async def test_sharpen_and_denoise_change_pixels() -> None:
    source = png(40, 40)
    async with image_agent() as url:
        _, plain = await call(
            url, "enhance", {"scale": 1, "sharpen": False}, [("a.png", "image/png", source)]
        )
        _, sharp = await call(url, "enhance", {"scale": 1, "sharpen": True}, [("a.png", "image/png", source)])
        _, smooth = await call(
            url, "enhance", {"scale": 1, "sharpen": False, "denoise": True}, [("a.png", "image/png", source)]
        )
    original = Image.open(io.BytesIO(source)).convert("RGB")
    assert ImageChops.difference(decode(plain["files"][0]).convert("RGB"), original).getbbox() is None
    assert ImageChops.difference(decode(sharp["files"][0]).convert("RGB"), original).getbbox() is not None
    assert ImageChops.difference(decode(smooth["files"][0]).convert("RGB"), original).getbbox() is not None
    assert sharp["text"] == "sharpen" and smooth["text"] == "denoise"


async def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (60, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    async with image_agent() as url:
        status, body = await call(url, "enhance", {"scale": 2}, [("phone.jpg", "image/jpeg", buf.getvalue())])
    assert status == 200, body
    assert decode(body["files"][0]).size == (40, 120)


async def test_transparency_survives_enhance() -> None:
    async with image_agent() as url:
        status, body = await call(
            url, "enhance", {"scale": 2}, [("logo.png", "image/png", png(16, 16, "RGBA"))]
        )
    assert status == 200
    assert decode(body["files"][0]).mode == "RGBA"


async def test_not_an_image_and_corrupt_image_are_415() -> None:
    whole = png(64, 64, noise=True)
    truncated = whole[: len(whole) // 2]
    async with image_agent() as url:
        status, body = await call(url, "enhance", {}, [("notes.txt", "text/plain", b"hello, not an image")])
        assert status == 415, body
        assert body["error"]["code"] == "unsupported_media"
        assert "'notes.txt' is not an image" in body["error"]["message"]
        assert "attach a PNG" in body["error"]["message"]
        status, body = await call(url, "enhance", {}, [("broken.png", "image/png", truncated)])
        assert status == 415, body
        assert "damaged or truncated" in body["error"]["message"]


async def test_oversized_input_is_refused_before_decoding() -> None:
    # A 20000×20000 PNG header costs a few bytes; a decoder that allocated it would need 1.2 GB.
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, format="PNG")
    async with image_agent() as url:
        status, body = await call(url, "enhance", {"scale": 2}, [("bomb.png", "image/png", bomb.getvalue())])
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large"
    assert "(400.0 MP)" in body["error"]["message"] and "40.0 MP limit" in body["error"]["message"]
    assert "attach a smaller image" in body["error"]["message"]


async def test_input_over_the_pixel_setting_names_its_size() -> None:
    async with image_agent(max_input_pixels=5_000) as url:
        status, body = await call(url, "enhance", {}, [("big.png", "image/png", png(100, 80))])
    assert status == 413
    assert (
        "'big.png' is 100×80 (8,000 pixels), over this agent's 5,000 pixels limit" in body["error"]["message"]
    )


async def test_output_pixel_limit_names_the_scale() -> None:
    async with image_agent(max_output_pixels=100_000) as url:
        status, body = await call(url, "enhance", {"scale": 4}, [("a.png", "image/png", png(100, 100))])
    assert status == 413
    assert "scale=4 would make a 400×400 image" in body["error"]["message"]
    assert "use a smaller scale" in body["error"]["message"]


async def test_too_big_for_discord_falls_back_to_jpeg() -> None:
    async with image_agent(max_output_bytes=60_000) as url:
        status, body = await call(
            url,
            "enhance",
            {"scale": 2, "sharpen": False},
            [("noise.png", "image/png", png(200, 200, noise=True))],
        )
    assert status == 200, body
    file = body["files"][0]
    assert file["content_type"] == "image/jpeg" and file["name"].endswith(".jpg")
    assert len(decode(file).tobytes()) > 0
    assert len(file_bytes(file)) <= 60_000
    assert any("Discord's upload limit" in w for w in body["warnings"])


async def test_generate_without_provider_says_what_to_set() -> None:
    async with image_agent() as url:
        status, body = await call(url, "generate", {"prompt": "a lighthouse"})
        assert status == 501
        assert body["error"]["code"] == "provider_not_configured"
        message = body["error"]["message"]
        assert "SPOTRUN_IMAGEGEN_PROVIDER=openai" in message and "SPOTRUN_IMAGEGEN_OPENAI_API_KEY" in message
        status, body = await call(
            url, "style-transfer", {"style": "ukiyo-e"}, [("a.png", "image/png", png(8, 8))]
        )
        assert status == 501 and body["error"]["code"] == "provider_not_configured"


async def test_ten_thousand_character_prompt_is_rejected_with_reason() -> None:
    async with image_agent() as url:
        status, body = await call(url, "generate", {"prompt": "x" * 10_000})
    assert status == 422
    assert body["error"]["code"] == "invalid_argument"
    assert "prompt" in body["error"]["message"] and "1000" in body["error"]["message"]


def test_half_configured_provider_fails_at_startup_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="SPOTRUN_IMAGEGEN_OPENAI_API_KEY is required"):
        load_settings(ImageGenSettings, provider="openai")
    assert load_settings(ImageGenSettings, provider="").provider is None


async def test_health_reports_pillow_and_the_missing_provider() -> None:
    async with image_agent() as url, aiohttp.ClientSession() as session, session.get(f"{url}/health") as resp:
        health = await resp.json()
    assert health["status"] == "ok"  # enhance still works without a provider
    assert health["engines"]["pillow"]["available"] is True
    assert health["engines"]["provider"]["available"] is False
    assert "SPOTRUN_IMAGEGEN_PROVIDER" in health["engines"]["provider"]["detail"]


def test_a_result_that_cannot_fit_discord_is_the_inputs_limit_not_a_crash() -> None:
    # A 500 `internal` would count against the image-gen breaker for every user.
    noise = Image.open(io.BytesIO(png(64, 64, noise=True)))
    with pytest.raises(AgentFailure) as err:
        encode_for_discord(noise, max_bytes=16)
    assert err.value.code == "payload_too_large" and err.value.status == 413
    assert err.value.source == "input" and not err.value.retryable
