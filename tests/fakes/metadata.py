"""A loopback GCE metadata server that issues real RS256-signed Google-style ID tokens.

google-auth talks to it over HTTP exactly as it would on GKE or Cloud Run; agents verify
its tokens against the certificates it serves at /oauth2/v1/certs.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.fakes.threaded import ThreadedServer

ISSUER = "https://accounts.google.com"
FLAVOR = {"Metadata-Flavor": "Google"}


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        from google.auth import crypt  # lazily: GCE_METADATA_HOST must be set first

        self.signer = crypt.RSASigner.from_string(self.private_pem, key_id=kid)


class FakeMetadataServer(ThreadedServer):
    def __init__(self, email: str = "spotrun-bot@test-project.iam.gserviceaccount.com") -> None:
        super().__init__(self._app)
        self.email = email
        self.key = SigningKey("fake-key-1")
        self.token_ttl_s = 3600
        self.access_token_ttl_s = 3599  # OAuth access tokens; below ~4 min google-auth refreshes each use
        self.identity_calls = 0
        self.cert_calls = 0
        self.access_token_calls = 0
        self.down = False  # answer outage_status to everything (metadata outage drill)
        self.outage_status = 503
        self.outage_hits = 0  # requests answered with outage_status
        self.access_token_delay_s = 0.0
        self.identity_delay_s = 0.0
        self.preemptible = True
        self.project_id = "test-project"
        self.zone = "europe-west1-b"
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- token helpers

    def mint(
        self,
        audience: str,
        *,
        ttl_s: float | None = None,
        issuer: str = ISSUER,
        email: str | None = None,
        key: SigningKey | None = None,
        iat: float | None = None,
    ) -> str:
        now = int(iat if iat is not None else time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": "1234567890",
            "email": email or self.email,
            "email_verified": True,
            "iat": now,
            "exp": now + int(self.token_ttl_s if ttl_s is None else ttl_s),
        }
        from google.auth import jwt as gjwt

        return gjwt.encode((key or self.key).signer, claims).decode()

    @property
    def certs_url(self) -> str:
        return f"{self.url}/oauth2/v1/certs"

    # ----------------------------------------------------------------------- routes

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._outage])
        app.router.add_get("/", self._ping)
        # google-auth asks for "default" first, then by the e-mail it learnt: serve both.
        accounts = "/computeMetadata/v1/instance/service-accounts/{account}"
        app.router.add_get(f"{accounts}/", self._account)
        app.router.add_get(f"{accounts}/identity", self._identity)
        app.router.add_get(f"{accounts}/token", self._access_token)
        app.router.add_get("/computeMetadata/v1/project/project-id", self._project)
        app.router.add_get("/computeMetadata/v1/instance/scheduling/preemptible", self._preemptible)
        app.router.add_get("/computeMetadata/v1/instance/hostname", self._hostname)
        app.router.add_get("/computeMetadata/v1/instance/zone", self._zone)
        app.router.add_get("/oauth2/v1/certs", self._certs)
        return app

    @web.middleware
    async def _outage(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.down:
            with self._lock:
                self.outage_hits += 1
            return web.Response(status=self.outage_status, text="metadata server unavailable", headers=FLAVOR)
        if request.path.startswith("/computeMetadata") and (
            request.headers.get("Metadata-Flavor") != "Google"
        ):
            return web.Response(status=403, text="Missing Metadata-Flavor header")
        return await handler(request)

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="ok", headers=FLAVOR)

    async def _account(self, request: web.Request) -> web.Response:
        body = {"email": self.email, "aliases": ["default"], "scopes": ["cloud-platform"]}
        return web.Response(text=json.dumps(body), content_type="application/json", headers=FLAVOR)

    async def _identity(self, request: web.Request) -> web.Response:
        audience = request.query.get("audience")
        if not audience:
            return web.Response(status=400, text="audience required", headers=FLAVOR)
        with self._lock:
            self.identity_calls += 1
        if self.identity_delay_s:
            import asyncio

            await asyncio.sleep(self.identity_delay_s)
        return web.Response(text=self.mint(audience), headers=FLAVOR)

    async def _access_token(self, request: web.Request) -> web.Response:
        with self._lock:
            self.access_token_calls += 1
            n = self.access_token_calls
        if self.access_token_delay_s:
            import asyncio

            await asyncio.sleep(self.access_token_delay_s)
        body = {
            "access_token": f"ya29.fake-access-token-{n}",
            "expires_in": self.access_token_ttl_s,
            "token_type": "Bearer",
        }
        return web.Response(text=json.dumps(body), content_type="application/json", headers=FLAVOR)

    async def _project(self, request: web.Request) -> web.Response:
        return web.Response(text=self.project_id, headers=FLAVOR)

    async def _preemptible(self, request: web.Request) -> web.Response:
        return web.Response(text="TRUE" if self.preemptible else "FALSE", headers=FLAVOR)

    async def _zone(self, request: web.Request) -> web.Response:
        return web.Response(text=f"projects/123456789/zones/{self.zone}", headers=FLAVOR)

    async def _hostname(self, request: web.Request) -> web.Response:
        return web.Response(text="gke-spot-pool-node-1.c.test-project.internal", headers=FLAVOR)

    async def _certs(self, request: web.Request) -> web.Response:
        with self._lock:
            self.cert_calls += 1
        return web.json_response(
            {self.key.kid: self.key.cert_pem}, headers={"Cache-Control": "public, max-age=3600"}
        )
