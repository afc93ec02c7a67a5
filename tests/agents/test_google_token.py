"""The shared Google access-token cache (agents/common/google_token.py): real google-auth against the
loopback metadata server, for both branches of its error contract, caching and shared refreshes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from agents.common import AgentFailure
from agents.common.google_token import NO_CREDENTIALS, GoogleToken
from spotrun.protocol import ErrorCode
from tests.fakes.metadata import FakeMetadataServer

# google-auth treats a token as stale this long before it expires (google.auth._helpers.REFRESH_THRESHOLD).
REFRESH_MARGIN_S = 225


async def failure(token: GoogleToken) -> AgentFailure:
    with pytest.raises(AgentFailure) as caught:
        await token.token()
    return caught.value


@pytest.mark.usefixtures("metadata", "no_google_credentials")
async def test_no_metadata_server_and_no_key_file_is_not_configured() -> None:
    token = GoogleToken("Vertex AI", role="roles/aiplatform.user")
    got = await failure(token)
    assert got.code is ErrorCode.PROVIDER_NOT_CONFIGURED and got.status == 501
    assert got.retryable is False and got.source == "agent"
    assert "no Google credentials were found for Vertex AI" in got.message
    for what_to_do in ("roles/aiplatform.user", "Workload Identity", "GOOGLE_APPLICATION_CREDENTIALS"):
        assert what_to_do in got.message
    assert token.state == NO_CREDENTIALS


@pytest.mark.usefixtures("metadata")
async def test_a_missing_key_file_is_not_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The metadata server is up, but the operator pointed google-auth at a key file that is not there.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    got = await failure(GoogleToken("Google Text-to-Speech"))
    assert got.code is ErrorCode.PROVIDER_NOT_CONFIGURED and got.retryable is False


@pytest.mark.parametrize("status", [500, 503])
async def test_a_metadata_server_answering_an_error_is_an_outage_then_recovers(
    metadata: FakeMetadataServer, status: int
) -> None:
    metadata.down, metadata.outage_status = True, status
    token = GoogleToken("Vertex AI")
    got = await failure(token)
    assert got.code is ErrorCode.UNAVAILABLE and got.status == 503
    assert got.retryable is True and got.source == "upstream"  # Google's illness, not the agent's
    assert "could not get a Google access token for Vertex AI" in got.message
    assert token.state.startswith("token service failing")

    metadata.down = False  # the same object, no restart: the next call looks again
    assert (await token.token()).startswith("ya29.fake-access-token-")
    assert token.state == "ok"
    assert await token.project() == metadata.project_id


async def test_a_failing_refresh_is_an_outage_then_recovers(metadata: FakeMetadataServer) -> None:
    # A status google-auth does not retry itself (500/503 cost it ~15 s of backoff: the audio-video
    # tests cover that path through the agent).
    metadata.access_token_ttl_s = 60  # inside the refresh margin: every call refreshes
    token = GoogleToken("Google Speech-to-Text")
    first = await token.authorization()
    metadata.down, metadata.outage_status = True, 502
    got = await failure(token)
    assert (got.code, got.retryable, got.source) == (ErrorCode.UNAVAILABLE, True, "upstream")
    metadata.down = False
    again = await token.authorization()
    assert again.startswith("Bearer ya29.") and again != first
    assert token.state == "ok"


async def test_the_token_is_cached_and_refreshed_only_when_no_longer_valid(
    metadata: FakeMetadataServer,
) -> None:
    metadata.access_token_ttl_s = REFRESH_MARGIN_S + 1  # valid for one second
    token = GoogleToken("Vertex AI")
    before = metadata.access_token_calls
    first = await token.token()
    assert await token.token() == first and await token.token() == first
    assert metadata.access_token_calls - before == 1
    time.sleep(1.1)  # noqa: ASYNC251 - nothing else runs on this loop; the token must age
    second = await token.token()
    assert second != first
    assert metadata.access_token_calls - before == 2


async def test_concurrent_callers_share_one_refresh(metadata: FakeMetadataServer) -> None:
    metadata.access_token_delay_s = 0.3
    token = GoogleToken("Vertex AI")
    before = metadata.access_token_calls
    got = await asyncio.gather(*(token.token() for _ in range(8)))
    assert len(set(got)) == 1
    assert metadata.access_token_calls - before == 1


async def test_concurrent_callers_share_one_failed_attempt(metadata: FakeMetadataServer) -> None:
    metadata.access_token_ttl_s = 60  # every call refreshes
    alone, together = GoogleToken("Vertex AI"), GoogleToken("Vertex AI")
    await alone.token()
    await together.token()
    metadata.down, metadata.outage_status = True, 502
    hits = metadata.outage_hits
    await failure(alone)
    one_attempt = metadata.outage_hits - hits

    assert one_attempt >= 1
    hits = metadata.outage_hits
    results = await asyncio.gather(*(together.token() for _ in range(8)), return_exceptions=True)
    assert all(isinstance(r, AgentFailure) and r.code is ErrorCode.UNAVAILABLE for r in results)
    assert metadata.outage_hits - hits == one_attempt  # eight waiting jobs, one attempt


async def test_a_cancelled_caller_does_not_cancel_the_refresh_others_wait_for(
    metadata: FakeMetadataServer,
) -> None:
    metadata.access_token_delay_s = 0.3
    token = GoogleToken("Vertex AI")
    before = metadata.access_token_calls
    impatient = asyncio.create_task(token.token())
    patient = asyncio.create_task(token.token())
    await asyncio.sleep(0.1)
    impatient.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await impatient
    assert (await patient).startswith("ya29.")
    assert metadata.access_token_calls - before == 1
