"""Google access tokens for Vertex AI (the metadata server on GKE, or ADC locally), refreshed in a
thread only when expired and shared by concurrent callers."""

from __future__ import annotations

import asyncio
from typing import Any

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class GoogleAccessToken:
    def __init__(self) -> None:
        self._credentials: Any = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        async with self._lock:  # one refresh for every caller waiting on it
            if self._credentials is None or not self._credentials.valid:
                await asyncio.to_thread(self._refresh)
            return str(self._credentials.token)

    def _refresh(self) -> None:
        import google.auth  # imported on first use: the offline router never needs it
        import google.auth.transport.requests

        if self._credentials is None:
            self._credentials, _ = google.auth.default(scopes=[SCOPE])
        self._credentials.refresh(google.auth.transport.requests.Request())
