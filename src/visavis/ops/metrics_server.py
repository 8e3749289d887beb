"""The metrics on a port of their own (``VISAVIS_METRICS_PORT``), for a private network."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from visavis.ops.metrics import Metrics


class MetricsServer:
    """Prometheus' own small HTTP server in a thread, serving this instance's registry."""

    def __init__(self, metrics: Metrics, *, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen; raises ``OSError`` when the port is taken."""
        if self._server is None:
            self._server, self._thread = start_http_server(
                self.port, addr=self.host, registry=self.metrics.registry
            )

    def close(self) -> None:
        """Stop listening; idempotent."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
