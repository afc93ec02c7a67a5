"""OAuth access tokens from google-auth default credentials, refreshed in a thread and shared."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.common import AgentFailure
from spotrun.protocol import ErrorCode

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


class AccessTokenSource:
    """One credentials object per process; refreshed only when google-auth says it is no longer valid.

    `Credentials.valid` already treats a token as stale a few minutes before `expiry`, so the
    cached token is never sent in its last moments. Concurrent callers share one refresh.
    """

    def __init__(self) -> None:
        self._credentials: Any = None
        self._project: str | None = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        creds = self._credentials
        if creds is not None and creds.valid:
            return str(creds.token)
        async with self._lock:
            if self._credentials is None or not self._credentials.valid:
                await asyncio.to_thread(self._refresh)
            return str(self._credentials.token)

    async def project(self) -> str | None:
        if self._credentials is None:
            await self.token()
        return self._project

    def _refresh(self) -> None:
        # Imported here: google-auth pulls in requests and cryptography, and an agent that
        # never talks to Vertex should not pay for them (nor probe the metadata server).
        import google.auth
        import google.auth.exceptions
        import google.auth.transport.requests

        try:
            if self._credentials is None:
                self._credentials, self._project = google.auth.default(scopes=SCOPES)
            self._credentials.refresh(google.auth.transport.requests.Request())
        except google.auth.exceptions.GoogleAuthError as exc:
            raise AgentFailure(
                ErrorCode.PROVIDER_ERROR,
                f"could not get Google credentials for Vertex AI ({type(exc).__name__}: {str(exc)[:200]}) — "
                "run the agent with a service account (Workload Identity) that has roles/aiplatform.user",
                retryable=True,
            ) from None
