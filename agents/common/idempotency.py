"""Per-instance idempotency: a repeated job id gets the first answer instead of new (billed) work."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes


class IdempotencyCache:
    """LRU of finished responses by job id, bounded by entries and bytes.

    Concurrent duplicates (a client retry racing its own first attempt) wait for the
    first instead of running twice. Retryable failures are not stored: retrying them is
    the point.
    """

    def __init__(self, max_entries: int = 256, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._done: OrderedDict[str, StoredResponse] = OrderedDict()
        self._running: dict[str, asyncio.Future[StoredResponse]] = {}
        self._bytes = 0
        self.hits = 0

    async def run(
        self,
        key: str,
        work: Callable[[], Awaitable[StoredResponse]],
        keep: Callable[[StoredResponse], bool],
    ) -> tuple[StoredResponse, bool]:
        """(response, replayed) for `key`: the stored one, a running one's, or fresh work."""
        if (stored := self._done.get(key)) is not None:
            self._done.move_to_end(key)
            self.hits += 1
            return stored, True
        if (running := self._running.get(key)) is not None:
            self.hits += 1
            return await asyncio.shield(running), True
        future: asyncio.Future[StoredResponse] = asyncio.get_running_loop().create_future()
        self._running[key] = future
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
            self._store(key, response)
        return response, False

    def _store(self, key: str, response: StoredResponse) -> None:
        size = len(response.body)
        if self.max_entries <= 0 or size > self.max_bytes:
            return
        self._done[key] = response
        self._bytes += size
        while len(self._done) > self.max_entries or self._bytes > self.max_bytes:
            _, old = self._done.popitem(last=False)
            self._bytes -= len(old.body)
