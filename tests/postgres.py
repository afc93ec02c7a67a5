"""A real PostgreSQL server for the tests: initdb + pg_ctl in a temporary directory on a free port.

Debian's `postgresql` package provides the binaries (on PATH, or /usr/lib/postgresql/<v>/bin).
initdb refuses to run as root, so as root the server runs as the `postgres` user (created by the
package). When PostgreSQL cannot be had, tests that need it skip — except in CI (CI=true), where
they fail: a CI run that silently skipped the production store would prove nothing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import free_port


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _install() -> None:
    """As root in a fresh container, install Debian's package (as .ci/run does)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
        check=False, env=env, capture_output=True,
    )  # fmt: skip


@dataclass
class PostgresServer:
    datadir: Path
    port: int
    pg_ctl: str
    user: str | None  # run as this OS user (root cannot run PostgreSQL)
    created: list[str] = field(default_factory=list)  # databases of the running test

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        cmd = [*args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run(
            self.pg_ctl, "-D", str(self.datadir), "-w", "-t", "30", "-l", str(self.datadir / "log"),
            "-o", f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", str(self.datadir), "-w", "-m", mode, "stop", check=False)

    def new_database(self) -> str:
        """A fresh empty database for one test; its URL."""
        name = "t_" + secrets.token_hex(6)
        psql = _bin("psql")
        assert psql is not None
        self._run(psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                  "-qc", f"CREATE DATABASE {name} TEMPLATE template0")  # fmt: skip
        self.created.append(name)
        return self.url(name)

    def drop_databases(self) -> None:
        """Drop the databases made for the test that just ended. Hundreds of tests' databases
        otherwise pile up to ~1 GB of small files, and deleting them at the end of the run took
        longer than the last test's timeout on a loaded machine."""
        psql = _bin("psql")
        if not self.created or psql is None:
            return
        drops = [a for n in self.created for a in ("-c", f"DROP DATABASE IF EXISTS {n} WITH (FORCE)")]
        self.created.clear()
        self._run(psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                  "-q", *drops, check=False)  # fmt: skip


def start_postgres() -> PostgresServer | str:
    """A running server, or why there is none."""
    if _bin("initdb") is None:
        _install()
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if initdb is None or pg_ctl is None or _bin("psql") is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql)"
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="spotrun-pg-"))
    datadir = root / "data"
    if user is not None:
        shutil.chown(root, user)
    server = PostgresServer(datadir, free_port(), pg_ctl, user)
    try:
        server._run(initdb, "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        server.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"PostgreSQL would not start: {exc} {detail.decode(errors='replace')[-500:]}"
    return server


@contextlib.contextmanager
def postgres_session() -> Iterator[PostgresServer | str]:
    server = start_postgres()
    try:
        yield server
    finally:
        if isinstance(server, PostgresServer):
            server.stop("immediate")
            shutil.rmtree(server.datadir.parent, ignore_errors=True)


def require(server: PostgresServer | str) -> PostgresServer:
    if isinstance(server, PostgresServer):
        return server
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs PostgreSQL: {server}")
    pytest.skip(server)
