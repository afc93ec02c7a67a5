"""OAuth access tokens for Google Cloud APIs from google-auth default credentials, cached per process.

What a caller sees (docs/protocol.md, "Retries and the breaker"):

    no credentials anywhere                     -> provider_not_configured (501), not retryable:
                                                   the message says what the operator must set
    Google's token service or metadata server   -> unavailable (503), retryable, source "upstream":
    failing                                        Google's illness, never counted against the agent

Nothing is remembered from a failure: the next call looks again, so an agent recovers without a
restart once the credentials or the metadata server are back.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from agents.common import providers
from agents.common.errors import AgentFailure
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode

log = get_logger("agents.google_token")
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
NO_CREDENTIALS = "no credentials"
# google-auth reads GCE_METADATA_IP at call time for its own ping; the probe below follows it.
_METADATA_IP = "169.254.169.254"


class GoogleToken:
    """One credentials object per process, refreshed in a thread only when google-auth says it is no
    longer valid (`Credentials.valid` turns false a few minutes before `expiry`). Concurrent callers
    share one refresh, and its outcome: during an outage N waiting jobs cost one attempt, not N.

    `api` names what the token is for in messages ("Vertex AI"); `role` is the IAM role the service
    account needs, when there is one to name. `state` is a short description for /health.
    """

    def __init__(self, api: str, *, role: str | None = None) -> None:
        self._api = api
        self._account = "a service account" + (f" that has {role}" if role else "")
        self._credentials: Any = None
        self._project: str | None = None
        self._refreshing: asyncio.Future[None] | None = None
        self.state = "not checked yet"

    async def token(self) -> str:
        creds = self._credentials
        if creds is None or not creds.valid:
            if self._refreshing is None:
                self._refreshing = asyncio.ensure_future(asyncio.to_thread(self._resolve))
                self._refreshing.add_done_callback(self._refreshed)
            # Shielded: a job cancelled at its deadline must not cancel the refresh the others await.
            await asyncio.shield(self._refreshing)
        return str(self._credentials.token)

    async def authorization(self) -> str:
        """The `Authorization` header value."""
        return f"Bearer {await self.token()}"

    async def project(self) -> str | None:
        """The credentials' project (the metadata server's, or the key file's), if they have one."""
        if self._credentials is None:
            await self.token()
        return self._project

    def _refreshed(self, done: asyncio.Future[None]) -> None:
        self._refreshing = None
        if not done.cancelled():
            done.exception()  # retrieved here too, in case every waiter was cancelled

    def _resolve(self) -> None:
        """Blocking (HTTP to the metadata server or Google's token endpoint): runs in a thread."""
        # Imported here: google-auth's token transport pulls in requests and urllib3, and an agent
        # that never calls a Google API should neither load them nor probe the metadata server.
        import google.auth
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        request = Request()
        try:
            if self._credentials is None:
                try:
                    self._credentials, self._project = google.auth.default(scopes=SCOPES, request=request)
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    if not _metadata_server_failing(request):
                        raise self._not_configured(exc) from None
                    raise self._outage(exc) from None
            self._credentials.refresh(request)
        except (google.auth.exceptions.RefreshError, google.auth.exceptions.TransportError) as exc:
            raise self._outage(exc) from None
        self.state = "ok"

    def _not_configured(self, exc: Exception) -> AgentFailure:
        self.state = NO_CREDENTIALS
        log.warning("no google credentials", api=self._api, error=str(exc)[:300])
        return AgentFailure(
            ErrorCode.PROVIDER_NOT_CONFIGURED,
            f"no Google credentials were found for {self._api} — run the agent with {self._account} "
            "(Cloud Run service identity or Workload Identity) or set GOOGLE_APPLICATION_CREDENTIALS "
            "to a key file",
        )

    def _outage(self, exc: Exception) -> AgentFailure:
        self.state = f"token service failing: {exc}"[:200]
        log.warning("google token refresh failed", api=self._api, error=str(exc)[:300])
        # Google's token service (or the metadata server) failed, not this agent: retryable, and
        # never counted against the breaker that also guards the agent's local commands.
        return providers.upstream(
            ErrorCode.UNAVAILABLE,
            f"could not get a Google access token for {self._api} (Google's token service or the "
            "metadata server failed) — try again in a minute; if it persists the operator must check "
            f"that the agent runs as {self._account}",
            retryable=True,
        )


def _metadata_server_failing(request: Any) -> bool:
    """After google.auth.default() found nothing: did a Google metadata server answer, with an error?

    default() cannot tell "not on Google Cloud" from "the metadata server answered 500": both end its
    ping. Only the second is an outage. The header tells Google's server from another cloud's.
    """
    import google.auth.exceptions

    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return False  # the key file was the credentials' source, and it is what failed
    url = f"http://{os.environ.get('GCE_METADATA_IP', _METADATA_IP)}/"
    try:
        response = request(url=url, method="GET", headers={"Metadata-Flavor": "Google"}, timeout=1)
    except google.auth.exceptions.TransportError:
        return False
    return bool(response.headers.get("Metadata-Flavor") == "Google")
