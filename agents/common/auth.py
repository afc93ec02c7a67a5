"""Verifies callers' Google ID tokens: defense in depth behind Cloud Run's IAM check.

google-auth's `verify_token` refetches certificates on every call and, with no audience,
checks none; here certificates are cached (and refetched once on an unknown key id) and
audience, issuer, expiry and (optionally) the caller's email are all checked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from typing import Any

import aiohttp
from google.auth import jwt

from agents.common.errors import AgentFailure
from spotrun.protocol import ErrorCode

_MAX_AGE = re.compile(r"max-age=(\d+)")
# base64url, non-empty: a JWS compact serialization has exactly three such segments.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# Google ID tokens are about 1 KB; a token far larger is not one, and is not decoded at all.
MAX_TOKEN_CHARS = 4096


class IdTokenVerifier:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        audience: str,
        certs_url: str,
        issuers: tuple[str, ...],
        allowed_callers: tuple[str, ...] = (),
        clock_skew_s: int = 10,
    ) -> None:
        self._session = session
        self.audience = audience
        self.certs_url = certs_url
        self.issuers = issuers
        self.allowed_callers = allowed_callers
        self.clock_skew_s = clock_skew_s
        self._certs: dict[str, str] = {}
        self._certs_expire = 0.0
        self._last_fetch = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def _load_certs(self, force: bool = False) -> dict[str, str]:
        async with self._lock:
            now = time.monotonic()
            stale = now >= self._certs_expire
            # A forced refetch (unknown kid) at most every 30 s: forged kids must not DoS Google.
            if not (stale or (force and now - self._last_fetch > 30)):
                return self._certs
            try:
                async with self._session.get(self.certs_url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    resp.raise_for_status()
                    certs = json.loads(await resp.read())
                    match = _MAX_AGE.search(resp.headers.get("Cache-Control", ""))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                if self._certs:
                    return self._certs  # keep serving with the old keys
                raise AgentFailure(ErrorCode.UNAVAILABLE, f"cannot fetch token certificates: {exc}") from None
            self.fetches += 1
            self._certs = {str(k): str(v) for k, v in certs.items()}
            self._last_fetch = now
            self._certs_expire = now + (int(match.group(1)) if match else 3600)
            return self._certs

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        if not authorization or not authorization.startswith("Bearer "):
            raise AgentFailure(ErrorCode.UNAUTHENTICATED, "missing bearer ID token")
        token = authorization.removeprefix("Bearer ").strip()
        kid = unverified_kid(token)
        certs = await self._load_certs()
        if kid not in certs:
            certs = await self._load_certs(force=True)
        try:
            # The audience is checked below, on a claim whose type is known: no message parsing.
            claims: dict[str, Any] = jwt.decode(
                token, certs=certs, audience=None, clock_skew_in_seconds=self.clock_skew_s
            )
        except (ValueError, TypeError) as exc:
            # google-auth raises ValueError subclasses, and TypeError on values it did not
            # expect; the shape checks above should leave none, but a token is never a 500.
            reason = "expired" if "expired" in str(exc).lower() else "invalid"
            raise AgentFailure(ErrorCode.UNAUTHENTICATED, f"ID token {reason}") from None
        if claims.get("aud") != self.audience:
            raise AgentFailure(ErrorCode.FORBIDDEN, "ID token is for another audience")
        if claims.get("iss") not in self.issuers:
            raise AgentFailure(ErrorCode.FORBIDDEN, "ID token from an untrusted issuer")
        if self.allowed_callers and claims.get("email") not in self.allowed_callers:
            raise AgentFailure(ErrorCode.FORBIDDEN, "caller is not allowed to use this agent")
        return claims


def unverified_kid(token: str) -> str:
    """The key id of a well-formed Google ID token, or a 401 for anything else.

    Nothing of the token is trusted yet: every value google-auth and the caches touch gets its
    type checked here, so a hostile token (a list as `kid`, a text `iat`, bad base64) is refused
    as malformed instead of raising deep inside the verifier as a 500."""
    parts = token.split(".")
    if len(token) > MAX_TOKEN_CHARS or len(parts) != 3 or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise _malformed()
    header, payload = _json_segment(parts[0]), _json_segment(parts[1])
    kid = header.get("kid")
    if not isinstance(kid, str) or header.get("alg") != "RS256":
        raise _malformed()
    if not all(_is_int(payload.get(c)) for c in ("iat", "exp")):
        raise _malformed()
    if not all(isinstance(payload.get(c), str) for c in ("aud", "iss")):
        raise _malformed()
    if not isinstance(payload.get("email", ""), str):
        raise _malformed()
    return kid


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):  # binascii.Error, UnicodeDecodeError, JSONDecodeError
        raise _malformed() from None
    if not isinstance(value, dict):
        raise _malformed()
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _malformed() -> AgentFailure:
    return AgentFailure(ErrorCode.UNAUTHENTICATED, "malformed ID token")
