"""Run an aiohttp app on a loopback socket in its own thread, independent of test event loops."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

from aiohttp import web


class ThreadedServer:
    """Binds at construction (so the port is known before anything imports), serves on start()."""

    def __init__(self, make_app: Callable[[], web.Application]) -> None:
        self._make_app = make_app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)

            async def up() -> None:
                self._runner = web.AppRunner(self._make_app(), access_log=None)
                await self._runner.setup()
                await web.SockSite(self._runner, self.sock).start()

            self.loop.run_until_complete(up())
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True, name=f"fake:{self.port}")
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread:
            self._thread.join(10)
