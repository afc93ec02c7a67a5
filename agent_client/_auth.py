"""ID tokens for calling Cloud Run: one google-auth credentials object per audience.

google-auth is synchronous and caches nothing across `fetch_id_token` calls, so tokens are
kept here until shortly before their `exp`, refreshed in a worker thread, and concurrent
callers for the same audience share a single refresh.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests

from agent_client import _metrics
from agent_client._exceptions import AuthError


class TokenSource(Protocol):
    async def headers(self, audience: str) -> dict[str, str]: ...


class NoAuth:
    """For agents running locally with auth `none`."""

    async def headers(self, audience: str) -> dict[str, str]:
        return {}


def token_expiry(token: str) -> float:
    """The `exp` claim of a JWT, read without verifying it (we are the holder, not the judge)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise AuthError(f"ID token is not a JWT with an exp claim: {exc}") from None


class GoogleIdTokens:
    """Google-signed ID tokens for any number of audiences, refreshed off the event loop."""

    def __init__(
        self,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._session = requests.Session()  # one pool for all metadata-server calls
        self._credentials: dict[str, Any] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._refreshing: dict[str, asyncio.Future[str]] = {}

    async def headers(self, audience: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(audience)}"}

    async def token(self, audience: str) -> str:
        cached = self._tokens.get(audience)
        if cached and cached[1] - self._clock() > self.refresh_margin_s:
            return cached[0]
        pending = self._refreshing.get(audience)
        if pending is None:
            pending = asyncio.ensure_future(self._refresh(audience))
            self._refreshing[audience] = pending
            pending.add_done_callback(lambda _: self._refreshing.pop(audience, None))
        # shield: one caller's cancellation must not cancel the refresh others wait on.
        return await asyncio.shield(pending)

    async def _refresh(self, audience: str) -> str:
        try:
            token = await asyncio.to_thread(self._fetch_blocking, audience)
        except AuthError:
            _metrics.TOKEN_REFRESHES.labels(audience, "error").inc()
            raise
        _metrics.TOKEN_REFRESHES.labels(audience, "ok").inc()
        self._tokens[audience] = (token, token_expiry(token))
        return token

    def _fetch_blocking(self, audience: str) -> str:
        # Imported here: google.auth reads GCE_METADATA_HOST at import time.
        import google.auth.exceptions
        import google.auth.transport.requests
        import google.oauth2.id_token

        request = google.auth.transport.requests.Request(self._session)
        try:
            creds = self._credentials.get(audience)
            if creds is None:
                creds = google.oauth2.id_token.fetch_id_token_credentials(  # type: ignore[no-untyped-call]
                    audience, request=request
                )
                self._credentials[audience] = creds
            creds.refresh(request)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise AuthError(
                f"could not get a Google ID token for {audience}: {exc}. On GKE check Workload "
                "Identity (KSA annotation iam.gke.io/gcp-service-account); locally set "
                "GOOGLE_APPLICATION_CREDENTIALS or use auth: none for local agents"
            ) from None
        except requests.RequestException as exc:
            raise AuthError(f"metadata server unreachable while fetching an ID token: {exc}") from None
        token: str | None = creds.token
        if not token:
            raise AuthError(f"google-auth returned no ID token for {audience}")
        return token

    def close(self) -> None:
        self._session.close()
