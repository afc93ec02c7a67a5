"""Run a heavy, picklable function in a child process with a memory cap, killed at its deadline.

A thread cannot be stopped: work abandoned at the job's deadline would keep its CPU and its
gigabytes while the caller's retry starts the same work again. A child process can be killed, and
its address space can be capped (RLIMIT_AS), so one input can never take more than its share of
the instance. Children come from a forkserver that has the agent's engine modules preloaded: a
job pays a fork (milliseconds), not an interpreter start and Pillow import.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

from agents.common.errors import AgentFailure
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode

log = get_logger("agents.isolate")

T = TypeVar("T")

_CTX = multiprocessing.get_context("forkserver")
# Left for Python itself when a limit is near: building the failure report must not fail too.
_REPORT_HEADROOM = 16 * 2**20
_MEMORY_DEATHS = {-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS}


def _ready() -> None:
    pass


def start(preload: Sequence[str] = ()) -> None:
    """Start the forkserver now (blocking, ~1 s), with the modules jobs need already imported.

    The server imports its preload asynchronously; one empty child waits for that, so the first
    user's job does not pay it out of its deadline.
    """
    _CTX.set_forkserver_preload(list(preload))
    warm = _CTX.Process(target=_ready, daemon=True)
    warm.start()
    warm.join()
    warm.close()


@asynccontextmanager
async def warming(preload: Sequence[str]) -> AsyncIterator[None]:
    """`start` in the background for the block (an app's lifetime): /health does not wait for it.

    A job that arrives first simply waits for the server in its own fork.
    """
    task = asyncio.create_task(asyncio.to_thread(start, preload))
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await task


def _vm_peak_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmPeak:"):
            return int(line.split()[1]) * 1024
    return 0


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...], limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        reply: tuple[Any, ...] = ("ok", fn(*args))
    except AgentFailure as exc:
        reply = ("failure", exc.code, exc.message, exc.retryable)
    except MemoryError:
        reply = ("memory",)
    except Exception as exc:  # noqa: BLE001 - the child's edge: the parent decides what the user reads
        # C libraries report a failed allocation as their own error (Pillow: "encoding error").
        near_limit = _vm_peak_bytes() > limit - 4 * _REPORT_HEADROOM
        reply = ("memory",) if near_limit else ("error", repr(exc))
    try:
        conn.send(reply)  # pickling a big result needs memory too
    except MemoryError:
        conn.send(("memory",))
    conn.close()


def _kill(proc: BaseProcess) -> int | None:
    """Kill (if still running) and reap the child; its exit code, or None if it never started."""
    if proc.ident is None:
        return None
    if proc.is_alive():
        proc.kill()
    proc.join(5)
    code = proc.exitcode
    proc.close()
    return code


async def run(
    fn: Callable[..., T],
    *args: Any,
    memory_mb: float,
    timeout_s: float,
    what: str,
) -> T:
    """`fn(*args)` in a child limited to `memory_mb` of address space and `timeout_s` of time.

    Raises the child's own AgentFailure unchanged; PAYLOAD_TOO_LARGE when the child ran out of
    memory or died; a *non-retryable* TIMEOUT when the deadline passed (the same input would take
    as long again). The child is killed on timeout and on cancellation.
    """
    limit = int(memory_mb * 2**20)
    receiver, sender = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=_child, args=(sender, fn, args, limit), daemon=True)
    # Started in a thread (the first fork after startup waits for the server's imports, which must
    # not block the event loop) and shielded: a cancelled start would leave a child nobody watches.
    started = asyncio.ensure_future(asyncio.to_thread(proc.start))
    try:
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(started)
                sender.close()
                # recv blocks in a worker thread; killing the child closes the pipe, which ends it.
                reply = await asyncio.to_thread(receiver.recv)
        except TimeoutError:
            log.warning("isolated work killed at its deadline", what=what, timeout_s=round(timeout_s, 1))
            raise AgentFailure(
                ErrorCode.TIMEOUT,
                f"{what} did not finish within its {timeout_s:.0f} s deadline and was stopped — "
                "try a smaller input or fewer steps",
                retryable=False,
            ) from None
        except EOFError:  # died without a word
            reply = ("died",)
    finally:
        if not started.done():
            await asyncio.wait([started])
        sender.close()
        # Kill before closing our end: the worker thread blocked in recv() then ends with EOFError.
        exitcode = await asyncio.to_thread(_kill, proc)
        receiver.close()
    if reply[0] == "died":
        # Killed by the kernel's OOM killer, or a C library crashed on a failed allocation under the cap.
        reply = ("memory",) if exitcode in _MEMORY_DEATHS else ("error", f"exit code {exitcode}")
    kind = reply[0]
    if kind == "ok":
        return reply[1]  # type: ignore[no-any-return]
    if kind == "failure":
        raise AgentFailure(reply[1], reply[2], retryable=reply[3])
    if kind == "memory":
        log.warning("isolated work ran out of memory", what=what, memory_mb=memory_mb)
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{what} needs more than the {memory_mb:.0f} MiB of memory this agent allows per job — "
            "try a smaller input",
        )
    log.error("isolated work failed", what=what, error=reply[1])
    raise AgentFailure(
        ErrorCode.INTERNAL, f"{what} failed inside the agent; it has been logged", retryable=False
    )
