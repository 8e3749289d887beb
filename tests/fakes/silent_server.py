"""A TCP server that accepts connections and never answers (a hung Redis, say).

It reads and discards whatever clients send and counts their connections, so a test can tell
how often a client knocked without timing anything.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class SilentServer:
    """Listens on 127.0.0.1; ``connections`` counts accepted sockets; ``close()`` idempotent."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.connections = 0
        self._clients: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="silent-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                self._drain()
                continue
            except OSError:
                return
            client.setblocking(False)
            self._clients.append(client)
            self.connections += 1
            self._drain()

    def _drain(self) -> None:
        for client in self._clients:
            try:
                client.recv(65536)
            except (BlockingIOError, OSError):
                pass

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        for client in self._clients:
            client.close()
        self._listener.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()
