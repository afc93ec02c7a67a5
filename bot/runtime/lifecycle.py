"""The bot process's life on a Spot node: crash-loop backoff before IDENTIFY, the last shutdown's
cause, an event-loop heartbeat for /healthz, and a hard exit deadline after SIGTERM.

Discord resets the token after 1000 IDENTIFYs in 24 h, and a pod that crashes at start is
restarted by the kubelet forever: the start times live in a small JSON file next to the job
database (on the PVC), so the backoff survives the restarts it is meant to slow down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spotrun.logs import flush, get_logger

log = get_logger("bot.runtime.lifecycle")

# How a process ended, as the next one reads it. "crash": it never wrote an end (killed, OOM,
# unhandled exception) — the only cause that can be a crash loop.
SIGTERM, SIGINT, GATEWAY_CLOSED, CLEAN, CRASH = "sigterm", "sigint", "gateway-closed", "clean", "crash"

_KEEP_STARTS = 50


def backoff_s(recent_starts: int, schedule: tuple[float, ...]) -> float:
    """The wait before this start, given how many starts happened within the window before it:
    none or one (a first restart, e.g. after a preemption) waits schedule[0], then it grows."""
    if not schedule:
        return 0.0
    return schedule[min(max(recent_starts - 1, 0), len(schedule) - 1)]


@dataclass
class Lifecycle:
    """Reads and writes `<database>.lifecycle.json`; `path=None` keeps it in memory (tests, :memory:)."""

    path: Path | None
    window_s: float = 600.0
    schedule: tuple[float, ...] = (0.0, 5.0, 15.0, 60.0, 300.0)
    clock: Callable[[], float] = time.time
    started_at: float = 0.0
    backoff_s: float = 0.0
    recent_starts: int = 0
    previous_cause: str | None = None  # None: the first start this file has seen
    previous_stopped_at: float | None = None
    _state: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def beside(cls, database_path: str, window_s: float, schedule: tuple[float, ...]) -> Lifecycle:
        path = None if database_path == ":memory:" else Path(database_path + ".lifecycle.json")
        return cls(path, window_s, tuple(schedule))

    def begin(self) -> float:
        """Record this start; returns how long to wait before logging in to the gateway."""
        now = self.clock()
        state = self._read()
        starts = [
            t for t in state.get("starts", []) if isinstance(t, int | float) and now - t < self.window_s
        ]
        self.recent_starts = len(starts)
        self.backoff_s = backoff_s(len(starts), self.schedule)
        if state:
            ended = state.get("ended")
            self.previous_cause = CRASH if not isinstance(ended, dict) else str(ended.get("cause", CRASH))
            self.previous_stopped_at = ended.get("at") if isinstance(ended, dict) else state.get("started_at")
        self.started_at = now
        self._state = {"starts": ([*starts, now])[-_KEEP_STARTS:], "started_at": now, "ended": None}
        self._write()
        return self.backoff_s

    def end(self, cause: str) -> None:
        """Record why this process stops; the next start shows it in /status."""
        if not self._state:
            return
        self._state["ended"] = {"cause": cause, "at": self.clock()}
        self._write()

    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return dict(self._state)
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("lifecycle file unreadable; treating this as a first start", error=str(exc))
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._state))
            os.replace(tmp, self.path)  # atomic: a kill mid-write leaves the old file
        except OSError as exc:
            log.warning("could not record the bot's lifecycle", path=str(self.path), error=str(exc))


class Heartbeat:
    """A task that stamps the time every `interval_s`: a stale stamp means the loop is stuck."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.last = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._beat(), name="heartbeat")

    def age_s(self) -> float:
        return time.monotonic() - self.last

    async def _beat(self) -> None:
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def arm_exit_deadline(seconds: float) -> threading.Timer:
    """Exit the process at `seconds` whatever the event loop is doing: the kubelet SIGKILLs at
    15 s anyway, and a process stuck after its state is saved must not wait for that."""

    def force() -> None:
        log.error("shutdown overran its deadline; exiting now", deadline_s=seconds)
        flush()
        os._exit(0)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()
    return timer
