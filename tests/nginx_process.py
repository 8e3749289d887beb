"""Debian's real nginx on loopback, running the shipped load balancer configuration.

``deploy/nginx/visavis.conf`` is the one file the compose deployment mounts; here its upstreams
(``visavis-N:8000``) are rendered to loopback ports and its ``listen 80`` to a free loopback
port, and nothing else changes. Used by the nginx tests and by ``bench/scaleout.py``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = ROOT / "deploy" / "nginx" / "visavis.conf"
#: Written to the access log when one is asked for: which instance answered each request.
UPSTREAM_LOG_FORMAT = "$request_method $uri $status $upstream_addr"


def find_nginx() -> str | None:
    """The nginx binary (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def loopback_nginx_conf(
    directory: Path, *, listen: int, upstreams: list[int], access_log: Path | None = None
) -> Path:
    """The shipped configuration, with the instances on loopback ports, in a runnable main file.

    With ``access_log``, each request is logged as ``UPSTREAM_LOG_FORMAT``.
    """
    site = NGINX_CONF.read_text()
    for number, port in enumerate(upstreams, start=1):
        upstream = f"visavis-{number}:8000"
        if upstream not in site:
            raise ValueError(f"{NGINX_CONF} has no upstream {upstream}")
        site = site.replace(upstream, f"127.0.0.1:{port}")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    (directory / "visavis.conf").write_text(site)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / temp).mkdir(exist_ok=True)
    logging = (
        f"log_format upstreams '{UPSTREAM_LOG_FORMAT}';\n    access_log {access_log} upstreams;"
        if access_log is not None
        else "access_log off;"
    )
    # Workers of a root master run as another user by default, who cannot write the test's
    # private folder where large request bodies are buffered: keep them as the test's user.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(
        f"""{user}daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    {logging}
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/visavis.conf;
}}
"""
    )
    return main


class NginxProcess:
    """nginx in the foreground on ``listen``, in front of instances on ``upstreams``."""

    def __init__(
        self, directory: Path, *, nginx: str, listen: int, upstreams: list[int], log: bool = False
    ) -> None:
        self.directory = directory
        self.access_log = directory / "access.log" if log else None
        self.main = loopback_nginx_conf(
            directory, listen=listen, upstreams=upstreams, access_log=self.access_log
        )
        self.nginx = nginx
        self.base_url = f"http://127.0.0.1:{listen}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 10.0) -> NginxProcess:
        self.proc = subprocess.Popen(
            [self.nginx, "-c", str(self.main), "-p", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                httpx.get(self.base_url + "/healthz", timeout=1)
                return self
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not start: {self.error_log()}") from None
                time.sleep(0.05)

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def upstreams_used(self, method: str, path_prefix: str) -> list[str]:
        """The instance (``127.0.0.1:port``) that answered each logged matching request."""
        if self.access_log is None or not self.access_log.exists():
            return []
        used = []
        for line in self.access_log.read_text().splitlines():
            parts = line.split(" ")
            if len(parts) >= 4 and parts[0] == method and parts[1].startswith(path_prefix):
                used.append(parts[3])
        return used

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
