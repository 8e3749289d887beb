"""Run an ASGI app on a loopback port in a background thread, for fakes and tests.

Fakes of external APIs are real HTTP servers: a test talks to them over TCP exactly as
Visavis talks to the real provider.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackServer:
    """One uvicorn server on 127.0.0.1 in a daemon thread; ``stop()`` is idempotent."""

    def __init__(
        self, app: Any, *, port: int | None = None, options: dict[str, Any] | None = None
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            # Leave the process's logging alone: tests capture it (uvicorn's own config would
            # stop its loggers from propagating).
            log_config=None,
            lifespan="on",
            **({"ws": "websockets-sansio"} | (options or {})),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"loopback-{self.port}", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def start(self, timeout_s: float = 10.0) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"loopback server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout=10)


@contextmanager
def serve(app: Any, *, port: int | None = None) -> Iterator[LoopbackServer]:
    """Serve ``app`` on loopback for the duration of the block."""
    server = LoopbackServer(app, port=port).start()
    try:
        yield server
    finally:
        server.stop()
