"""ID tokens end to end: google-auth fetches from the loopback metadata server, the agent runtime verifies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from agent_client import AgentClient, AgentRegistry, AuthError, GoogleIdTokens, create_session
from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app
from spotrun.protocol import Command
from tests.agent_client.conftest import tts_request
from tests.fakes.metadata import SigningKey
from tests.helpers import serve

AUDIENCE = "https://audio-video-abc123-ew.a.run.app"


async def _echo(job: Job) -> Output:
    return Output(text=f"said {job.args.text}")


def verifying_agent(metadata) -> object:
    spec = AgentSpec(name="audio-video", handlers={Command.TTS: _echo})
    settings = AgentSettings(auth="google", audience=AUDIENCE, certs_url=metadata.certs_url)
    return create_agent_app(spec, settings)


@pytest.fixture
async def secured(metadata) -> AsyncIterator[str]:
    async with serve(verifying_agent(metadata)) as url:
        yield url


def google_registry(url: str, **kw: object) -> AgentRegistry:
    return AgentRegistry.from_data(
        {
            "agents": [
                {
                    "name": "audio-video",
                    "base_url": url,
                    "audience": AUDIENCE,
                    "auth": "google",
                    "commands": ["tts"],
                    "timeout_s": 10,
                    "max_concurrency": 1000,
                    **kw,
                }
            ]
        }
    )


async def test_500_concurrent_calls_share_one_token_fetch(secured, metadata):
    tokens = GoogleIdTokens()
    async with create_session() as session:
        client = AgentClient(google_registry(secured), session, tokens)
        results = await asyncio.gather(*(client.call(tts_request(f"j{i}")) for i in range(500)))
    assert all(r.text == "said hello" for r in results)
    assert metadata.identity_calls == 1, "every caller must share one refresh"
    tokens.close()


async def test_expiring_token_is_refreshed_before_use(secured, metadata):
    now = [1_000_000.0]
    tokens = GoogleIdTokens(refresh_margin_s=300, clock=lambda: now[0])
    first = await tokens.token(AUDIENCE)
    from agent_client import token_expiry

    exp = token_expiry(first)
    now[0] = exp - 3600 + 60  # well before the margin: cached
    assert await tokens.token(AUDIENCE) == first and metadata.identity_calls == 1
    now[0] = exp - 200  # inside the 300 s margin: must refresh before use
    metadata.token_ttl_s = 7200
    second = await tokens.token(AUDIENCE)
    assert second != first and metadata.identity_calls == 2
    tokens.close()


async def test_metadata_outage_is_a_clear_typed_error_then_recovers(secured, metadata):
    tokens = GoogleIdTokens()
    metadata.down = True
    async with create_session() as session:
        client = AgentClient(google_registry(secured, retries=0), session, tokens)
        with pytest.raises(AuthError) as err:
            await client.call(tts_request("down-1"))
        assert "ID token" in err.value.message and err.value.agent == "audio-video"
        metadata.down = False
        assert (await client.call(tts_request("up-1"))).text == "said hello"
    tokens.close()


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("missing", 401, "unauthenticated"),
        ("garbage", 401, "unauthenticated"),
        ("wrong_audience", 403, "forbidden"),
        ("bad_signature", 401, "unauthenticated"),
        ("expired", 401, "unauthenticated"),
        ("wrong_issuer", 403, "forbidden"),
        ("valid", 200, None),
    ],
)
async def test_agent_verifies_tokens(secured, metadata, case, status, code):
    forger = SigningKey(metadata.key.kid)  # same kid, different key: a forgery
    token = {
        "missing": None,
        "garbage": "not.a.jwt",
        "wrong_audience": metadata.mint("https://someone-else.a.run.app"),
        "bad_signature": metadata.mint(AUDIENCE, key=forger),
        "expired": metadata.mint(AUDIENCE, ttl_s=60, iat=1_000_000),
        "wrong_issuer": metadata.mint(AUDIENCE, issuer="https://evil.example"),
        "valid": metadata.mint(AUDIENCE),
    }[case]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = tts_request(f"auth-{case}").model_dump_json()
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{secured}/v1/tts", data=body, headers={**headers, "Content-Type": "application/json"}
        ) as resp,
    ):
        payload = await resp.json()
    assert resp.status == status, payload
    if code:
        assert payload["error"]["code"] == code and payload["error"]["message"]
        assert "Traceback" not in str(payload)


async def test_certificates_are_cached(secured, metadata):
    calls = metadata.cert_calls
    async with aiohttp.ClientSession() as s:
        for i in range(5):
            token = metadata.mint(AUDIENCE)
            async with s.post(
                f"{secured}/v1/tts",
                data=tts_request(f"c{i}").model_dump_json(),
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 200
    assert metadata.cert_calls - calls <= 1
