"""A tenant's webhook receiver on loopback: verifies signatures as our docs tell receivers to,
fails a chosen share of requests, and records every request it gets.

    python -m tests.fakes.webhook_receiver --port 9009 --secret whsec_... --fail-rate 0.3
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer
from visavis.ops.webhook_signing import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)


@dataclass
class Received:
    event_id: str
    attempt: int
    at: float
    accepted: bool
    body: dict[str, Any]


@dataclass
class Receiver:
    """What the receiver knows and does; change its knobs at any time."""

    secret: str = ""
    fail_rate: float = 0.0
    status_when_failing: int = 503
    seed: int = 7
    requests: list[Received] = field(default_factory=list)
    bad_signatures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if not verify(
            self.secret,
            body,
            timestamp_header=request.headers.get(TIMESTAMP_HEADER, ""),
            signature_header=request.headers.get(SIGNATURE_HEADER, ""),
        ):
            with self._lock:
                self.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=400)
        with self._lock:
            failing = self._random.random() < self.fail_rate
            self.requests.append(
                Received(
                    event_id=request.headers.get(EVENT_ID_HEADER, ""),
                    attempt=int(request.headers.get(ATTEMPT_HEADER, "0")),
                    at=time.time(),
                    accepted=not failing,
                    body=json.loads(body),
                )
            )
        if failing:
            return JSONResponse({"error": "try later"}, status_code=self.status_when_failing)
        return JSONResponse({"ok": True})

    def accepted_ids(self) -> list[str]:
        with self._lock:
            return [r.event_id for r in self.requests if r.accepted]

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)


def create_app(receiver: Receiver) -> Starlette:
    async def received(request: Request) -> Response:
        """What the receiver got, for a test or bench in another process."""
        return JSONResponse(
            {
                "bad_signatures": receiver.bad_signatures,
                "requests": [
                    {"event_id": r.event_id, "attempt": r.attempt, "at": r.at, "ok": r.accepted}
                    for r in receiver.snapshot()
                ],
            }
        )

    return Starlette(
        routes=[
            Route("/hook", receiver.handle, methods=["POST"]),
            Route("/_received", received, methods=["GET"]),
        ]
    )


@contextmanager
def serve_receiver(receiver: Receiver, *, port: int | None = None) -> Iterator[str]:
    """The receiver on loopback; yields the URL to register."""
    server = LoopbackServer(create_app(receiver), port=port).start()
    try:
        yield f"{server.base_url}/hook"
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=9009)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    args = parser.parse_args()
    receiver = Receiver(secret=args.secret, fail_rate=args.fail_rate)
    with serve_receiver(receiver, port=args.port) as url:
        print(f"receiving at {url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
