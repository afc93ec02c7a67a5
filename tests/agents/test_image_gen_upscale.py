"""`enhance engine=provider`: super-resolution through Vertex AI Imagen or Replicate, on loopback fakes."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from pydantic import ValidationError

from agent_client import AgentClient, AgentError, AgentRegistry, create_session
from spotrun.protocol import AgentRequest, CallerContext, Command, EnhanceArgs, InputFile
from tests.agents.test_image_gen_support import call, decode, fake, image_agent, png
from tests.fakes.imagen import FakeImagen
from tests.fakes.metadata import FakeMetadataServer
from tests.fakes.replicate import FakeReplicate

PNG_FILE = ("photo.png", "image/png", png(40, 30))


@pytest.fixture
def imagen() -> FakeImagen:
    return FakeImagen()


@pytest.fixture
def replicate() -> FakeReplicate:
    return FakeReplicate()


def _vertex(url: str, **extra: object) -> dict[str, object]:
    return {"provider": "vertex", "vertex_endpoint": url, "vertex_project": "p", **extra}


def _replicate(url: str, fake_server: FakeReplicate, **extra: object) -> dict[str, object]:
    return {
        "provider": "replicate",
        "replicate_api_token": fake_server.token,
        "replicate_base_url": url,
        "replicate_poll_interval_s": 0.05,
        **extra,
    }


def _field(body: dict[str, object], name: str) -> str:
    return next(f["value"] for f in body["fields"] if f["name"] == name)  # type: ignore[attr-defined,index]


@pytest.mark.parametrize("scale", [2, 4])
async def test_vertex_upscale_sends_mode_upscale_with_the_factor(
    imagen: FakeImagen, metadata: FakeMetadataServer, scale: int
) -> None:
    settings = _vertex("", vertex_upscale_price_per_image=0.003)
    async with fake(imagen) as base, image_agent(**{**settings, "vertex_endpoint": base}) as url:
        status, body = await call(url, "enhance", {"scale": scale, "engine": "provider"}, [PNG_FILE])
    assert status == 200, body
    assert len(imagen.requests) == 1
    sent = imagen.requests[0]
    assert sent["model"] == "imagegeneration@002" and sent["path"].endswith("imagegeneration@002:predict")
    params = sent["body"]["parameters"]
    assert params["mode"] == "upscale"
    assert params["upscaleConfig"] == {"upscaleFactor": f"x{scale}"}
    assert params["sampleCount"] == 1
    instance = sent["body"]["instances"][0]
    assert instance["prompt"] == ""
    with Image.open(io.BytesIO(base64.b64decode(instance["image"]["bytesBase64Encoded"]))) as src:
        assert (src.format, src.size) == ("PNG", (40, 30))
    assert decode(body["files"][0]).size == (40 * scale, 30 * scale)
    assert body["files"][0]["name"] == "photo-enhanced.png"
    assert _field(body, "Size") == f"40×30 → {40 * scale}×{30 * scale}"
    assert body["usage"]["provider"] == "vertex:imagegeneration@002"
    assert body["usage"]["provider_cost_usd"] == pytest.approx(0.003)
    assert body["warnings"] == []


async def test_replicate_upscale_sends_image_and_scale_and_bills_per_image(replicate: FakeReplicate) -> None:
    async with fake(replicate) as base:
        settings = _replicate(
            base,
            replicate,
            replicate_upscale_model="nightmareai/real-esrgan:abc123",
            replicate_upscale_price_per_image=0.004,
            replicate_price_per_second=1.0,  # must not be used: upscales are priced per image
        )
        async with image_agent(**settings) as url:
            status, body = await call(url, "enhance", {"scale": 4, "engine": "provider"}, [PNG_FILE])
    assert status == 200, body
    assert len(replicate.created) == 1
    sent = replicate.created[0]
    assert sent["path"] == "/v1/predictions" and sent["body"]["version"] == "abc123"
    inputs = sent["body"]["input"]
    assert inputs["scale"] == 4 and inputs["face_enhance"] is False
    assert inputs["image"].startswith("data:image/png;base64,")
    assert decode(body["files"][0]).size == (160, 120)
    assert body["usage"]["provider"] == "replicate:nightmareai/real-esrgan"
    assert body["usage"]["provider_cost_usd"] == pytest.approx(0.004)


async def test_vertex_4xx_is_tried_once_and_not_retryable(
    imagen: FakeImagen, metadata: FakeMetadataServer
) -> None:
    imagen.mode = "400"
    async with fake(imagen) as base, image_agent(**_vertex(base)) as url:
        status, body = await call(url, "enhance", {"engine": "provider"}, [PNG_FILE])
    assert status == 502, body
    assert len(imagen.requests) == 1
    error = body["error"]
    assert (error["code"], error["retryable"], error["source"]) == ("provider_error", False, "upstream")
    assert "Image size exceeds the limit" in error["message"]


@pytest.mark.parametrize(
    ("mode", "status", "code"), [("500", 502, "provider_error"), ("429", 429, "rate_limited")]
)
async def test_vertex_5xx_and_429_are_retryable_upstream(
    imagen: FakeImagen, metadata: FakeMetadataServer, mode: str, status: int, code: str
) -> None:
    imagen.mode = mode
    async with fake(imagen) as base, image_agent(**_vertex(base)) as url:
        got, body = await call(url, "enhance", {"engine": "provider"}, [PNG_FILE])
    assert got == status, body
    error = body["error"]
    assert (error["code"], error["retryable"], error["source"]) == (code, True, "upstream")


async def test_replicate_4xx_is_tried_once(replicate: FakeReplicate) -> None:
    replicate.mode = "422"
    async with fake(replicate) as base, image_agent(**_replicate(base, replicate)) as url:
        status, body = await call(url, "enhance", {"engine": "provider"}, [PNG_FILE])
    assert status == 502, body
    assert len(replicate.created) == 1 and replicate.polls == 0
    assert body["error"]["retryable"] is False and body["error"]["source"] == "upstream"


async def test_without_a_provider_the_answer_names_the_setting() -> None:
    async with image_agent() as url:
        status, body = await call(url, "enhance", {"engine": "provider"}, [PNG_FILE])
    assert status == 501, body
    assert body["error"]["code"] == "provider_not_configured"
    assert "SPOTRUN_IMAGEGEN_PROVIDER=vertex" in body["error"]["message"]
    assert "engine=local" in body["error"]["message"]


async def test_openai_has_no_upscaler_and_says_which_provider_has() -> None:
    # Nothing listens on the discard port: the refusal must come before any call.
    settings = {"provider": "openai", "openai_api_key": "sk-test", "openai_base_url": "http://127.0.0.1:9"}
    async with image_agent(**settings) as url:
        status, body = await call(url, "enhance", {"engine": "provider"}, [PNG_FILE])
    assert status == 501, body
    assert body["error"]["code"] == "provider_not_configured"
    assert "SPOTRUN_IMAGEGEN_PROVIDER=replicate" in body["error"]["message"]


@pytest.mark.parametrize(
    ("upload", "status", "code"),
    [
        (("big.png", "image/png", png(200, 200)), 413, "payload_too_large"),  # ×4 = 640,000 px > cap
        (("notes.png", "image/png", b"not an image at all"), 415, "unsupported_media"),
    ],
)
async def test_input_caps_apply_before_anything_is_sent(
    imagen: FakeImagen,
    metadata: FakeMetadataServer,
    upload: tuple[str, str, bytes],
    status: int,
    code: str,
) -> None:
    async with fake(imagen) as base, image_agent(**_vertex(base), max_output_pixels=500_000) as url:
        got, body = await call(url, "enhance", {"scale": 4, "engine": "provider"}, [upload])
    assert got == status, body
    assert body["error"]["code"] == code
    assert imagen.requests == []


async def test_a_provider_image_over_the_output_cap_is_refused(
    imagen: FakeImagen, metadata: FakeMetadataServer
) -> None:
    imagen.upscale_returns = 16  # a model that ignores the factor it was given
    async with fake(imagen) as base, image_agent(**_vertex(base), max_output_pixels=100_000) as url:
        status, body = await call(url, "enhance", {"scale": 2, "engine": "provider"}, [PNG_FILE])
    assert status == 502, body
    assert body["error"]["code"] == "provider_error"
    assert "640×480" in body["error"]["message"]


async def test_a_provider_image_of_another_size_is_kept_with_a_warning(
    imagen: FakeImagen, metadata: FakeMetadataServer
) -> None:
    imagen.upscale_returns = 2
    async with fake(imagen) as base, image_agent(**_vertex(base)) as url:
        status, body = await call(url, "enhance", {"scale": 4, "engine": "provider"}, [PNG_FILE])
    assert status == 200, body
    assert decode(body["files"][0]).size == (80, 60)
    assert body["warnings"] == ["vertex returned 80×60, not the 160×120 asked for"]


def test_provider_engine_needs_an_upscale() -> None:
    with pytest.raises(ValidationError, match="scale=2 or scale=4"):
        EnhanceArgs(scale=1, engine="provider")
    assert EnhanceArgs().engine == "local"


async def _through_the_client(url: str, job_id: str) -> AgentError:
    """Call the agent the way the bot does (AgentClient: retry policy, one idempotency key)."""
    registry = AgentRegistry.from_data(
        {
            "agents": [
                {
                    "name": "image-gen",
                    "base_url": url,
                    "auth": "none",
                    "commands": ["enhance"],
                    "timeout_s": 10,
                    "retries": 2,
                }
            ]
        }
    )
    request = AgentRequest(
        job_id=job_id,
        command=Command.ENHANCE,
        args=EnhanceArgs(engine="provider"),
        files=[InputFile(name=PNG_FILE[0], content_type=PNG_FILE[1], data=PNG_FILE[2])],
        context=CallerContext(user_id="42"),
    )
    session = create_session()
    try:
        client = AgentClient(registry, session, None, backoff_initial_s=0.01, backoff_max_s=0.05)
        with pytest.raises(AgentError) as err:
            await client.call(request)
    finally:
        await session.close()
    return err.value


@pytest.mark.parametrize(("mode", "attempts"), [("400", 1), ("500", 3)])
async def test_the_client_tries_a_provider_4xx_once_and_a_5xx_again(
    imagen: FakeImagen, metadata: FakeMetadataServer, mode: str, attempts: int
) -> None:
    imagen.mode = mode
    async with fake(imagen) as base, image_agent(**_vertex(base)) as url:
        error = await _through_the_client(url, f"job-upscale-{mode}")
    assert len(imagen.requests) == attempts, error
    assert error.retryable is (mode == "500")
