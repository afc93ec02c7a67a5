"""OAuth access tokens for Google Cloud REST APIs from google-auth default credentials, off the loop."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.common import AgentFailure, providers
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode

log = get_logger("agents.audio_video.google_auth")
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
NOT_CONFIGURED = (
    "no Google credentials were found — run the agent with a service account (Cloud Run service identity "
    "or Workload Identity) or set GOOGLE_APPLICATION_CREDENTIALS to a key file"
)


class GoogleToken:
    """One credentials object per process; concurrent callers share a single refresh."""

    def __init__(self) -> None:
        self._credentials: Any = None
        self._lock = asyncio.Lock()
        self.state = "not checked yet"

    async def authorization(self) -> str:
        import google.auth
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        async with self._lock:
            try:
                if self._credentials is None:
                    # default() and refresh() block on HTTP (metadata server or token endpoint): threads.
                    self._credentials, _ = await asyncio.to_thread(google.auth.default, scopes=SCOPES)
                if not self._credentials.valid:
                    await asyncio.to_thread(self._credentials.refresh, Request())
            except google.auth.exceptions.DefaultCredentialsError:
                self.state = "no credentials"
                raise AgentFailure(ErrorCode.PROVIDER_NOT_CONFIGURED, NOT_CONFIGURED) from None
            except (google.auth.exceptions.RefreshError, google.auth.exceptions.TransportError) as exc:
                self.state = f"token refresh failed: {exc}"[:200]
                log.warning("google token refresh failed", error=str(exc))
                # Google's token service (or the metadata server) failed, not this agent: retryable,
                # never counted against the breaker that also guards the local engines.
                raise providers.upstream(
                    ErrorCode.UNAVAILABLE,
                    "could not get a Google access token — try again "
                    "in a minute; if it persists the agent's service account is misconfigured",
                    retryable=True,
                ) from None
            self.state = "ok"
            return f"Bearer {self._credentials.token}"
