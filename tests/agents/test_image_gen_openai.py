"""The OpenAI adapter against a loopback OpenAI images API: happy paths, refusals, errors, timeouts."""

from __future__ import annotations

import time

import pytest

from tests.agents.test_image_gen_support import call, decode, fake, image_agent, png
from tests.fakes.openai_images import FakeOpenAIImages


@pytest.fixture
def openai_fake() -> FakeOpenAIImages:
    return FakeOpenAIImages()


def _settings(url: str, fake_server: FakeOpenAIImages, **extra: object) -> dict[str, object]:
    return {
        "provider": "openai",
        "openai_api_key": fake_server.api_key,
        "openai_base_url": url,
        "openai_price_per_image": 0.016,
        **extra,
    }


async def test_generate_decodes_images_honours_count_and_reports_cost(openai_fake: FakeOpenAIImages) -> None:
    async with fake(openai_fake) as base, image_agent(**_settings(base, openai_fake)) as url:
        status, body = await call(
            url, "generate", {"prompt": "a lighthouse at dusk", "size": "512x512", "count": 3}
        )
    assert status == 200, body
    assert [f["name"] for f in body["files"]] == ["generate-1.png", "generate-2.png", "generate-3.png"]
    assert all(decode(f).size == (16, 16) for f in body["files"])  # the fake answers size/32
    assert body["usage"]["provider"] == "openai:dall-e-2"
    assert body["usage"]["provider_cost_usd"] == pytest.approx(3 * 0.016)
    sent = openai_fake.requests[-1]["body"]
    assert sent == {
        "model": "dall-e-2",
        "prompt": "a lighthouse at dusk",
        "n": 3,
        "size": "512x512",
        "response_format": "b64_json",
    }


async def test_url_responses_are_downloaded(openai_fake: FakeOpenAIImages) -> None:
    openai_fake.mode = "url"
    async with fake(openai_fake) as base, image_agent(**_settings(base, openai_fake)) as url:
        status, body = await call(url, "generate", {"prompt": "a fox", "count": 2})
    assert status == 200, body
    assert len(body["files"]) == 2 and decode(body["files"][0]).size == (32, 32)


async def test_style_transfer_sends_multipart_png_edit(openai_fake: FakeOpenAIImages) -> None:
    async with fake(openai_fake) as base, image_agent(**_settings(base, openai_fake)) as url:
        status, body = await call(
            url,
            "style-transfer",
            {"style": "ukiyo-e woodblock", "strength": 0.9},
            [("a.jpg", "image/png", png(40, 40))],
        )
    assert status == 200, body
    assert decode(body["files"][0]).size == (32, 32)
    sent = openai_fake.requests[-1]
    assert sent["path"] == "/v1/images/edits"
    assert sent["body"]["model"] == "gpt-image-1" and "response_format" not in sent["body"]
    assert "ukiyo-e woodblock" in sent["body"]["prompt"] and "boldly" in sent["body"]["prompt"]
    assert body["usage"]["provider_cost_usd"] == pytest.approx(0.042)


@pytest.mark.parametrize(
    ("mode", "status", "code", "retryable", "says"),
    [
        ("policy", 422, "content_policy", False, "rephrase the prompt"),
        ("400", 502, "provider_error", False, "Invalid value for 'size'"),
        ("429", 429, "rate_limited", True, "wait a minute"),
        ("500", 502, "provider_error", True, "try again in a moment"),
    ],
)
async def test_provider_errors_map_to_protocol_codes(
    openai_fake: FakeOpenAIImages, mode: str, status: int, code: str, retryable: bool, says: str
) -> None:
    openai_fake.mode = mode
    async with fake(openai_fake) as base, image_agent(**_settings(base, openai_fake)) as url:
        got, body = await call(url, "generate", {"prompt": "anything"})
    assert got == status, body
    assert body["error"]["code"] == code and body["error"]["retryable"] is retryable
    # A refusal is the prompt's (input); anything else the provider's (upstream): never the agent's.
    assert body["error"]["source"] == ("input" if code == "content_policy" else "upstream")
    assert says in body["error"]["message"]


async def test_wrong_api_key_says_which_setting(openai_fake: FakeOpenAIImages) -> None:
    async with (
        fake(openai_fake) as base,
        image_agent(**_settings(base, openai_fake, openai_api_key="sk-wrong-key")) as url,
    ):
        status, body = await call(url, "generate", {"prompt": "anything"})
    assert status == 502
    assert body["error"]["code"] == "provider_error" and body["error"]["retryable"] is False
    assert "API key rejected" in body["error"]["message"]
    assert "SPOTRUN_IMAGEGEN_OPENAI_API_KEY" in body["error"]["message"]
    assert "sk-wrong-key" not in body["error"]["message"]


async def test_slow_provider_is_cut_off_by_the_job_deadline(openai_fake: FakeOpenAIImages) -> None:
    openai_fake.mode, openai_fake.slow_s = "slow", 2.5
    async with fake(openai_fake) as base, image_agent(**_settings(base, openai_fake)) as url:
        started = time.monotonic()
        status, body = await call(url, "generate", {"prompt": "anything"}, deadline_s=2.0)
        elapsed = time.monotonic() - started
    assert status == 504, body
    assert body["error"]["code"] == "timeout" and body["error"]["retryable"] is True
    assert body["error"]["source"] == "upstream"  # OpenAI was slow, not the agent
    assert "OpenAI did not finish" in body["error"]["message"]
    assert elapsed < 2.0
