"""A ``visavis serve`` on its embedded defaults, in a temporary directory, for benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class ServedVisavis:
    base_url: str
    pid: int
    #: The server's working directory (its SQLite database) and environment, for CLI calls.
    workdir: str = ""
    env: Mapping[str, str] | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_visavis(
    extra_env: Mapping[str, str] | None = None, *, ready_timeout_s: float = 60
) -> Iterator[ServedVisavis]:
    """Start the server (settings from the environment ignored but ``extra_env``), wait until
    ``/readyz`` answers 200, and stop it with SIGTERM on the way out."""
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VISAVIS_")}
        env |= {"VISAVIS_PORT": str(port), "VISAVIS_LOG_LEVEL": "warning", **(extra_env or {})}
        server = subprocess.Popen(
            [sys.executable, "-m", "visavis", "serve"],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + ready_timeout_s
            while True:
                try:
                    if httpx.get(base_url + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None:
                    raise SystemExit(f"the server exited with code {server.returncode}")
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not become ready")
                time.sleep(0.1)
            yield ServedVisavis(base_url, server.pid, workdir, env)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
