"""The Vertex Imagen adapter: real google-auth against the fake metadata server, a loopback :predict."""

from __future__ import annotations

import time

import pytest

from tests.agents.test_image_gen_support import call, decode, fake, image_agent, png
from tests.fakes.imagen import TOKEN_PREFIX, FakeImagen
from tests.fakes.metadata import FakeMetadataServer


@pytest.fixture
def imagen() -> FakeImagen:
    return FakeImagen()


def _settings(url: str) -> dict[str, object]:
    return {"provider": "vertex", "vertex_endpoint": url, "vertex_price_per_image": 0.03}


async def test_generate_uses_a_cached_access_token(imagen: FakeImagen, metadata: FakeMetadataServer) -> None:
    before = metadata.access_token_calls
    async with fake(imagen) as base, image_agent(**_settings(base)) as url:
        status, body = await call(url, "generate", {"prompt": "a red bicycle", "count": 2})
        assert status == 200, body
        status, again = await call(url, "generate", {"prompt": "a blue bicycle"})
        assert status == 200, again
    assert metadata.access_token_calls - before == 1  # the second call reused the token
    assert len(body["files"]) == 2 and decode(body["files"][0]).size == (32, 32)
    assert body["usage"] == {**body["usage"], "provider": "vertex:imagen-3.0-generate-002"}
    assert body["usage"]["provider_cost_usd"] == pytest.approx(0.06)
    first = imagen.requests[0]
    # The project comes from the credentials (the metadata server's) when not set.
    assert first["path"] == (
        "/v1/projects/test-project/locations/us-central1/publishers/google/models/imagen-3.0-generate-002:predict"
    )
    assert first["auth"].startswith(TOKEN_PREFIX)
    assert first["body"]["instances"] == [{"prompt": "a red bicycle"}]
    assert first["body"]["parameters"]["sampleCount"] == 2


async def test_style_transfer_sends_the_image_for_editing(
    imagen: FakeImagen, metadata: FakeMetadataServer
) -> None:
    async with fake(imagen) as base, image_agent(**_settings(base), vertex_project="my-proj") as url:
        status, body = await call(
            url, "style-transfer", {"style": "pixel art"}, [("a.png", "image/png", png(48, 48))]
        )
    assert status == 200, body
    assert decode(body["files"][0]).size == (48, 48)  # the fake echoes the input size
    sent = imagen.requests[-1]
    assert "/projects/my-proj/" in sent["path"] and sent["model"] == "imagegeneration@006"
    assert sent["body"]["instances"][0]["image"]["mimeType"] == "image/png"
    assert "pixel art" in sent["body"]["instances"][0]["prompt"]
    assert body["usage"]["provider_cost_usd"] == pytest.approx(0.02)


async def test_partially_filtered_result_warns(imagen: FakeImagen, metadata: FakeMetadataServer) -> None:
    imagen.mode = "partial"
    async with fake(imagen) as base, image_agent(**_settings(base)) as url:
        status, body = await call(url, "generate", {"prompt": "a crowd", "count": 3})
    assert status == 200
    assert len(body["files"]) == 2
    assert "1 of 3 images were removed by Google's safety filter" in body["warnings"]
    assert body["usage"]["provider_cost_usd"] == pytest.approx(0.06)


@pytest.mark.parametrize(
    ("mode", "status", "code", "says"),
    [
        ("policy", 422, "content_policy", "may violate our policies"),
        ("policy_400", 422, "content_policy", "rephrase"),
        ("403", 502, "provider_error", "roles/aiplatform.user"),
        ("429", 429, "rate_limited", "Quota exceeded"),
        ("500", 502, "provider_error", "try again in a moment"),
    ],
)
async def test_provider_errors_map_to_protocol_codes(
    imagen: FakeImagen, metadata: FakeMetadataServer, mode: str, status: int, code: str, says: str
) -> None:
    imagen.mode = mode
    async with fake(imagen) as base, image_agent(**_settings(base)) as url:
        got, body = await call(url, "generate", {"prompt": "anything"})
    assert got == status, body
    assert body["error"]["code"] == code
    assert says in body["error"]["message"]
    assert body["error"]["source"] == ("input" if code == "content_policy" else "upstream")


async def test_metadata_outage_is_googles_retryable_error_and_recovers(
    imagen: FakeImagen, metadata: FakeMetadataServer
) -> None:
    # The metadata server answers 503: Google's outage, retryable, not counted against the agent.
    metadata.down = True
    async with fake(imagen) as base, image_agent(**_settings(base), vertex_project="p") as url:
        status, body = await call(url, "generate", {"prompt": "anything"})
        assert imagen.requests == []
        metadata.down = False
        recovered, _ = await call(url, "generate", {"prompt": "anything"})
    assert status == 503, body
    assert body["error"]["code"] == "unavailable"
    assert body["error"]["retryable"] is True and body["error"]["source"] == "upstream"
    assert "could not get a Google access token for Vertex AI" in body["error"]["message"]
    assert recovered == 200  # the same agent process, no restart


@pytest.mark.usefixtures("no_google_credentials")
async def test_no_google_credentials_is_not_configured(imagen: FakeImagen) -> None:
    async with fake(imagen) as base, image_agent(**_settings(base), vertex_project="p") as url:
        status, body = await call(url, "generate", {"prompt": "anything"})
    assert status == 501, body
    assert body["error"]["code"] == "provider_not_configured" and body["error"]["retryable"] is False
    assert "roles/aiplatform.user" in body["error"]["message"]
    assert "GOOGLE_APPLICATION_CREDENTIALS" in body["error"]["message"]
    assert imagen.requests == []


async def test_slow_provider_is_cut_off_by_the_job_deadline(
    imagen: FakeImagen, metadata: FakeMetadataServer
) -> None:
    imagen.mode, imagen.slow_s = "slow", 2.5
    async with fake(imagen) as base, image_agent(**_settings(base)) as url:
        started = time.monotonic()
        status, body = await call(url, "generate", {"prompt": "anything"}, deadline_s=2.0)
        elapsed = time.monotonic() - started
    assert status == 504 and body["error"]["code"] == "timeout"
    assert "Vertex AI Imagen did not finish" in body["error"]["message"]
    assert elapsed < 2.0
