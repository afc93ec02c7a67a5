"""Test-wide boundary fakes. The metadata server must be up -- and GCE_METADATA_HOST set --
before anything imports google.auth, which reads the variable at import time."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

from tests.fakes.metadata import FakeMetadataServer

_METADATA = FakeMetadataServer()
os.environ["GCE_METADATA_HOST"] = f"127.0.0.1:{_METADATA.port}"
os.environ["GCE_METADATA_IP"] = f"127.0.0.1:{_METADATA.port}"
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
os.environ.setdefault("MPLCONFIGDIR", "/tmp/spotrun-mpl")
_METADATA.start()

import pytest  # noqa: E402

from tests.fakes.metadata import FakeMetadataServer as _Meta  # noqa: E402


@pytest.fixture
def metadata() -> _Meta:
    """The process-wide fake metadata server, reset to healthy defaults for each test."""
    _METADATA.down = False
    _METADATA.outage_status = 503
    _METADATA.access_token_delay_s = 0.0
    _METADATA.token_ttl_s = 3600
    _METADATA.access_token_ttl_s = 3599
    _METADATA.identity_delay_s = 0.0
    _METADATA.identity_calls = 0
    return _METADATA


@pytest.fixture
def no_google_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A machine off Google Cloud: nothing answers at the metadata address (a bound port that never
    listens refuses connections), no key file and no gcloud user credentials."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{closed.getsockname()[1]}")  # read per call
        monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
        yield


# ------------------------------------------------------------------------ job store backends

from tests.postgres import PostgresServer, postgres_session, require  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server() -> object:
    """One real PostgreSQL for the whole run, started on first use (tests.postgres)."""
    with postgres_session() as server:
        yield server


@pytest.fixture
def postgres(postgres_server: PostgresServer | str) -> Iterator[PostgresServer]:
    """The session's server for one test; the databases the test made are dropped after it."""
    server = require(postgres_server)
    yield server
    server.drop_databases()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A job store location for each backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path) + "/jobs.db"  # type: ignore[operator]
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()
