"""The Replicate adapter: create, multi-poll progression, downloads, per-second cost, failures."""

from __future__ import annotations

import time

import pytest

from tests.agents.test_image_gen_support import call, decode, fake, image_agent, png
from tests.fakes.replicate import FakeReplicate


@pytest.fixture
def replicate() -> FakeReplicate:
    return FakeReplicate()


def _settings(url: str, fake_server: FakeReplicate, **extra: object) -> dict[str, object]:
    return {
        "provider": "replicate",
        "replicate_api_token": fake_server.token,
        "replicate_base_url": url,
        "replicate_poll_interval_s": 0.05,
        "replicate_price_per_second": 0.002,
        **extra,
    }


async def test_generate_polls_until_succeeded_and_bills_predict_time(replicate: FakeReplicate) -> None:
    replicate.polls_to_finish = 3
    async with fake(replicate) as base, image_agent(**_settings(base, replicate)) as url:
        status, body = await call(url, "generate", {"prompt": "a koi pond", "count": 2})
    assert status == 200, body
    assert replicate.polls == 3  # starting → processing → processing → succeeded
    assert len(body["files"]) == 2 and decode(body["files"][1]).size == (32, 32)
    assert body["usage"]["provider"] == "replicate:black-forest-labs/flux-schnell"
    assert body["usage"]["provider_cost_usd"] == pytest.approx(2.5 * 0.002)
    created = replicate.created[-1]
    assert created["path"] == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert created["prefer"] == "wait=10"
    assert created["body"]["input"]["num_outputs"] == 2


async def test_versioned_model_and_per_image_price(replicate: FakeReplicate) -> None:
    async with fake(replicate) as base:
        settings = _settings(
            base, replicate, replicate_model="acme/painter:abc123", replicate_price_per_image=0.003
        )
        async with image_agent(**settings) as url:
            status, body = await call(url, "generate", {"prompt": "a koi pond", "count": 3})
    assert status == 200, body
    assert replicate.created[-1]["path"] == "/v1/predictions"
    assert replicate.created[-1]["body"]["version"] == "abc123"
    assert body["usage"]["provider_cost_usd"] == pytest.approx(0.009)


async def test_style_transfer_sends_data_uri_and_strength(replicate: FakeReplicate) -> None:
    async with fake(replicate) as base, image_agent(**_settings(base, replicate)) as url:
        status, body = await call(
            url,
            "style-transfer",
            {"style": "charcoal sketch", "strength": 0.3},
            [("a.png", "image/png", png(20, 20))],
        )
    assert status == 200, body
    sent = replicate.created[-1]
    assert sent["path"] == "/v1/models/black-forest-labs/flux-dev/predictions"
    assert sent["body"]["input"]["image"].startswith("data:image/png;base64,")
    assert sent["body"]["input"]["prompt_strength"] == 0.3


async def test_a_failed_status_poll_is_retried(replicate: FakeReplicate) -> None:
    replicate.mode = "poll500"
    async with fake(replicate) as base, image_agent(**_settings(base, replicate)) as url:
        status, body = await call(url, "generate", {"prompt": "a koi pond"})
    assert status == 200, body
    assert replicate.polls == 2  # the first poll's 500 was retried, not reported


@pytest.mark.parametrize(
    ("mode", "status", "code", "retryable", "says"),
    [
        ("nsfw", 422, "content_policy", False, "NSFW content detected"),
        ("fail", 502, "provider_error", False, "CUDA out of memory"),
        ("canceled", 502, "provider_error", False, "canceled"),
        ("401", 502, "provider_error", False, "SPOTRUN_IMAGEGEN_REPLICATE_API_TOKEN"),
        ("422", 502, "provider_error", False, "num_outputs"),
        ("500", 502, "provider_error", True, "try again in a moment"),
    ],
)
async def test_failures_map_to_protocol_codes(
    replicate: FakeReplicate, mode: str, status: int, code: str, retryable: bool, says: str
) -> None:
    replicate.mode = mode
    async with fake(replicate) as base, image_agent(**_settings(base, replicate)) as url:
        got, body = await call(url, "generate", {"prompt": "anything"})
    assert got == status, body
    assert body["error"]["code"] == code and body["error"]["retryable"] is retryable
    # A refusal is the prompt's (input); anything else the provider's (upstream): never the agent's.
    assert body["error"]["source"] == ("input" if code == "content_policy" else "upstream")
    assert says in body["error"]["message"]


async def test_never_finishing_prediction_times_out_and_is_canceled(replicate: FakeReplicate) -> None:
    replicate.mode = "slow"
    async with fake(replicate) as base, image_agent(**_settings(base, replicate)) as url:
        started = time.monotonic()
        status, body = await call(url, "generate", {"prompt": "anything"}, deadline_s=2.0)
        elapsed = time.monotonic() - started
    assert status == 504, body
    assert body["error"]["code"] == "timeout" and "Replicate did not finish" in body["error"]["message"]
    assert elapsed < 2.0
    assert replicate.polls >= 5 and replicate.cancels == 1
