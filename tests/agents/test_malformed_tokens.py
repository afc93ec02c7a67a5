"""Every malformed bearer token is a 401 (not retryable), never a 500: the agent's token check
runs before anything else and must not trust a single byte of the token."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app
from spotrun.protocol import Command
from tests.agent_client.conftest import tts_request
from tests.fakes.metadata import FakeMetadataServer
from tests.helpers import serve

AUDIENCE = "https://audio-video-abc123-ew.a.run.app"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seg(value: object) -> str:
    return b64(json.dumps(value).encode())


def claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "email": "spotrun-bot@test-project.iam.gserviceaccount.com",
        "iat": now,
        "exp": now + 3600,
    }
    return {**base, **over}


def signed(metadata: FakeMetadataServer, header: object, payload: object) -> str:
    """Signed with the real key: only the shape is wrong, so only the shape check can refuse it."""
    section = f"{seg(header)}.{seg(payload)}"
    return f"{section}.{b64(metadata.key.signer.sign(section.encode()))}"


def cases(metadata: FakeMetadataServer) -> dict[str, str]:
    kid = metadata.key.kid
    good = {"alg": "RS256", "typ": "JWT", "kid": kid}
    sig = b64(b"x" * 256)
    return {
        "kid int": f"{seg({**good, 'kid': 7})}.{seg(claims())}.{sig}",
        "kid list": f"{seg({**good, 'kid': [kid]})}.{seg(claims())}.{sig}",
        "kid dict": f"{seg({**good, 'kid': {'k': kid}})}.{seg(claims())}.{sig}",
        "kid null": f"{seg({**good, 'kid': None})}.{seg(claims())}.{sig}",
        "kid bool": f"{seg({**good, 'kid': True})}.{seg(claims())}.{sig}",
        "kid missing": f"{seg({'alg': 'RS256'})}.{seg(claims())}.{sig}",
        "alg list": f"{seg({**good, 'alg': ['RS256']})}.{seg(claims())}.{sig}",
        "alg none": f"{seg({**good, 'alg': 'none'})}.{seg(claims())}.",
        "header is a list": f"{seg([good])}.{seg(claims())}.{sig}",
        "header is a string": f"{seg('RS256')}.{seg(claims())}.{sig}",
        "header not json": f"{b64(b'{not json')}.{seg(claims())}.{sig}",
        "header nested 2500 deep": f"{b64(b'[' * 2500)}.{seg(claims())}.{sig}",
        "header not utf-8": f"{b64(bytes([0xFF, 0xFE, 0x00]))}.{seg(claims())}.{sig}",
        "bad base64": f"@@@.{seg(claims())}.{sig}",
        "bad padding": f"{seg(good)}a.{seg(claims())}.{sig}",
        "two parts": f"{seg(good)}.{seg(claims())}",
        "four parts": f"{seg(good)}.{seg(claims())}.{sig}.{sig}",
        "one part": "abc",
        "dots only": "..",
        "empty": "",
        "non-ascii": f"{seg(good)}.{seg(claims())}.é{sig}",
        "huge": f"{seg(good)}.{b64(b'x' * 5500)}.{sig}",  # under aiohttp's 8 KiB header limit
        "claims not json": f"{seg(good)}.{b64(b'nope')}.{sig}",
        "payload is a list": signed(metadata, good, [claims()]),
        "iat is text": signed(metadata, good, claims(iat="yesterday")),
        "exp is a list": signed(metadata, good, claims(exp=[1])),
        "email is a dict": signed(metadata, good, claims(email={"a": 1})),
        "aud is a dict": signed(metadata, good, claims(aud={"x": AUDIENCE})),
    }


async def _echo(job: Job) -> Output:
    return Output(text="ok")


@pytest.fixture
async def secured(metadata: FakeMetadataServer) -> AsyncIterator[str]:
    spec = AgentSpec(name="audio-video", handlers={Command.TTS: _echo})
    settings = AgentSettings(auth="google", audience=AUDIENCE, certs_url=metadata.certs_url)
    async with serve(create_agent_app(spec, settings)) as url:
        yield url


async def post(url: str, token: str) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{url}/v1/tts",
            data=tts_request("tok-1").model_dump_json(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as resp,
    ):
        return resp.status, await resp.json()


async def test_every_malformed_token_is_401_not_retryable(secured: str, metadata: FakeMetadataServer) -> None:
    outcomes = {name: await post(secured, token) for name, token in cases(metadata).items()}
    wrong = {
        name: (status, body)
        for name, (status, body) in outcomes.items()
        if status != 401 or body["error"]["code"] != "unauthenticated" or body["error"]["retryable"]
    }
    assert not wrong, sorted((name, status) for name, (status, _) in wrong.items())
    # The table itself is sound: the same key and shape with proper values is accepted.
    good = signed(metadata, {"alg": "RS256", "typ": "JWT", "kid": metadata.key.kid}, claims())
    assert (await post(secured, good))[0] == 200
