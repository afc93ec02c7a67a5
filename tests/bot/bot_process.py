"""`spotrun bot` as a subprocess against the Discord emulator, as an operator (or the kubelet) runs
it: started, SIGTERMed, killed and restarted by tests that need a real process boundary."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.fakes.discord import DiscordEmulator
from tests.helpers import ROOT


def registry(tmp_path: Path, scraper: str, concurrency: int) -> Path:
    agent = {
        "name": "web-scraper",
        "base_url": scraper,
        "auth": "none",
        "commands": ["scrape", "extract"],
        "timeout_s": 30,
        "retries": 1,
        "max_concurrency": concurrency,
        "cpu": 1,
        "memory_gib": 2,
    }
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump({"agents": [agent]}))
    return path


class BotProcess:
    """`python -m spotrun bot` with the environment an operator's chart would give it."""

    def __init__(self, tmp_path: Path, emu: DiscordEmulator, registry_file: Path, **env: str) -> None:
        self.tmp_path, self.emu = tmp_path, emu
        base = {k: v for k, v in os.environ.items() if not k.startswith("SPOTRUN_")}
        self.env = {
            **base,
            "PYTHONUNBUFFERED": "1",
            "SPOTRUN_DISCORD_TOKEN": emu.token,
            "SPOTRUN_DISCORD_API_BASE": emu.api_base,
            "SPOTRUN_DISCORD_GATEWAY_URL": emu.gateway_url,
            "SPOTRUN_SYNC_GUILD_IDS": str(emu.guild_id),
            "SPOTRUN_CLIENT_REGISTRY_FILE": str(registry_file),
            "SPOTRUN_CLIENT_BACKOFF_INITIAL_S": "0.05",
            "SPOTRUN_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "SPOTRUN_STATUS_EDIT_INTERVAL_S": "0.3",
            "SPOTRUN_OPS_PORT": "0",
            "SPOTRUN_LOGIN_BACKOFF_S": "0",
            "SPOTRUN_LOG_LEVEL": "INFO",
            "SPOTRUN_LOG_FORMAT": "json",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exit_times: list[float] = []

    @property
    def db(self) -> Path:
        return self.tmp_path / "bot.db"

    def log_path(self, n: int) -> Path:
        return self.tmp_path / f"bot-{n}.log"

    def spawn(self) -> None:
        self.starts += 1
        with self.log_path(self.starts).open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "spotrun", "bot"], cwd=ROOT, env=self.env, stderr=log
            )

    async def start(self, *, wait_ready: bool = True) -> None:
        before = self.emu.identify_count
        self.spawn()
        assert self.proc is not None
        if self.env.get("SPOTRUN_GATEWAY") == "false":  # a worker: no gateway session to wait for
            deadline = time.monotonic() + 30
            while not any(e.get("message") == "bot started" for e in self.events(self.starts)):
                assert self.proc.poll() is None, self.logs(self.starts)
                assert time.monotonic() < deadline, "the worker did not start within 30 s"
                await asyncio.sleep(0.05)
            return
        if wait_ready:
            deadline = time.monotonic() + 30
            while self.emu.identify_count == before or self.emu.sessions == 0:
                assert self.proc.poll() is None, self.logs(self.starts)
                assert time.monotonic() < deadline, "the bot did not connect within 30 s"
                await asyncio.sleep(0.05)

    async def sigterm(self) -> float:
        """SIGTERM as the kubelet sends it on preemption; returns seconds until the process exited."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = await self.wait_exit(15)
        took = time.monotonic() - started
        self.exit_times.append(took)
        assert rc == 0, self.logs(self.starts)
        assert b"Traceback" not in self.log_path(self.starts).read_bytes(), self.logs(self.starts)
        return took

    async def wait_exit(self, timeout: float) -> int:  # noqa: ASYNC109 - polls a subprocess
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while (rc := self.proc.poll()) is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the bot did not exit within {timeout}s:\n{self.logs(self.starts)}")
            await asyncio.sleep(0.05)
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def logs(self, n: int) -> str:
        return self.log_path(n).read_text(errors="replace")[-4000:]

    def events(self, n: int) -> list[dict[str, object]]:
        out = []
        for line in self.log_path(n).read_text(errors="replace").splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def jobs(self) -> dict[str, tuple[str, float | None]]:
        """id -> (state, posted_at), read the way an operator would, with sqlite3 or psql."""
        url = self.env["SPOTRUN_DATABASE_URL"]
        if url.startswith("postgres"):
            out = subprocess.run(
                ["psql", url, "-AtF|", "-c", "SELECT id, state, posted_at FROM jobs"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            rows = [line.split("|") for line in out.splitlines() if line]
            return {r[0]: (r[1], float(r[2]) if r[2] else None) for r in rows}
        with sqlite3.connect(self.db) as db:
            return {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, state, posted_at FROM jobs")}
