"""Per-instance idempotency: a repeated job id gets the first answer instead of new (billed) work."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from spotrun.protocol import AgentRequest, InputFile

# Above this many bytes of input files the digest runs in a thread (hashlib releases the GIL):
# a 25 MB upload takes ~50 ms to hash, too long to hold the event loop.
_HASH_IN_THREAD_BYTES = 1 << 20


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes


class IdempotencyConflict(Exception):
    """The key is taken by a request with another fingerprint (caller, command or content)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class IdempotencyCache:
    """LRU of finished responses by job id, bounded by entries and bytes.

    Each key is bound to the fingerprint of the request that first used it: only the same
    fingerprint replays; another one raises IdempotencyConflict (a guessed or reused id must not
    hand one caller's answer to another). Concurrent duplicates (a client retry racing its own
    first attempt) wait for the first instead of running twice. Retryable failures are not
    stored: retrying them is the point.
    """

    def __init__(self, max_entries: int = 256, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._done: OrderedDict[str, tuple[str, StoredResponse]] = OrderedDict()
        self._running: dict[str, tuple[str, asyncio.Future[StoredResponse]]] = {}
        self._bytes = 0
        self.hits = 0

    async def run(
        self,
        key: str,
        fingerprint: str,
        work: Callable[[], Awaitable[StoredResponse]],
        keep: Callable[[StoredResponse], bool],
    ) -> tuple[StoredResponse, bool]:
        """(response, replayed) for `key`: the stored one, a running one's, or fresh work."""
        if (done := self._done.get(key)) is not None:
            bound, stored = done
            if bound != fingerprint:
                raise IdempotencyConflict(key)
            self._done.move_to_end(key)
            self.hits += 1
            return stored, True
        if (running := self._running.get(key)) is not None:
            bound, pending = running
            if bound != fingerprint:
                raise IdempotencyConflict(key)
            self.hits += 1
            return await asyncio.shield(pending), True
        future: asyncio.Future[StoredResponse] = asyncio.get_running_loop().create_future()
        self._running[key] = (fingerprint, future)
        try:
            response = await work()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiting duplicates re-raise it themselves
            raise
        finally:
            self._running.pop(key, None)
        future.set_result(response)
        if keep(response):
            self._store(key, fingerprint, response)
        return response, False

    def _store(self, key: str, fingerprint: str, response: StoredResponse) -> None:
        size = len(response.body)
        if self.max_entries <= 0 or size > self.max_bytes:
            return
        self._done[key] = (fingerprint, response)
        self._bytes += size
        while len(self._done) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, old) = self._done.popitem(last=False)
            self._bytes -= len(old.body)


async def request_fingerprint(caller: str, request: AgentRequest) -> str:
    """What a job id is bound to: the caller's identity, the command and a digest of the request.

    The deadline is left out on purpose: a client's retry carries what is left of its budget."""
    files = request.files
    if sum(f.size for f in files) > _HASH_IN_THREAD_BYTES:
        digests = await asyncio.to_thread(lambda: [_digest(f) for f in files])
    else:
        digests = [_digest(f) for f in files]
    canonical = {
        "caller": caller,
        "command": request.command,
        "args": request.args if isinstance(request.args, dict) else request.args.model_dump(mode="json"),
        "context": request.context.model_dump(mode="json"),
        "files": [[f.name, f.content_type, d] for f, d in zip(files, digests, strict=True)],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _digest(file: InputFile) -> str:
    """The file's SHA-256, fed piece by piece: the same for a file whole (JSON) or in parts (multipart)."""
    digest = hashlib.sha256()
    for piece in file.pieces():
        digest.update(piece)
    return digest.hexdigest()
