"""Machinery shared by the avatar provider fakes (HeyGen, Akool).

Knobs settable from Python (``fake.configure(...)``) and over HTTP
(``POST /_fake/config`` with a JSON object), fault injection (latency, the next N
requests answering 500, hanging, or 429 + Retry-After), a log of every request, a
fake clock that tests can move forward, and a small CLI runner.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer

JSON = dict[str, Any]


@dataclasses.dataclass
class FaultKnobs:
    """Knobs every provider fake has; faults count down per API request.

    ``fault_paths``: when not empty, faults hit only paths containing one of them.
    """

    latency_s: float = 0.0
    fail_next: int = 0
    fail_status: int = 500
    hang_next: int = 0
    hang_s: float = 30.0
    rate_limit_next: int = 0
    retry_after_s: float = 1.0
    fault_paths: tuple[str, ...] = ()


K = TypeVar("K", bound=FaultKnobs)


class Answer:
    """What a fake endpoint answers: status, JSON body, extra headers."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, body: JSON, status: int = 200, headers: Mapping[str, str] | None = None):
        self.body = body
        self.status = status
        self.headers = dict(headers or {})


class FakeClock:
    """Monotonic time plus an offset that tests can advance."""

    def __init__(self, base: Callable[[], float] = time.monotonic) -> None:
        self._base = base
        self.offset = 0.0

    def __call__(self) -> float:
        return self._base() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def coerce(value: Any, default: Any, name: str) -> Any:
    """``value`` converted to the type of the knob's default, or ValueError."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} takes true or false")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ValueError(f"{name} takes a whole number")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} takes a number")
        return float(value)
    if isinstance(default, tuple):
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} takes a list of strings")
        return tuple(value)
    if default is None or isinstance(default, str):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} takes a string")
        return value
    raise ValueError(f"{name} cannot be set")


class ProviderFake(Generic[K]):
    """Base of a provider fake: knobs, faults, request log; subclasses hold the sessions.

    Every method is safe to call from the test's thread while the server runs in another.
    """

    provider = "provider"

    def __init__(self, knobs: K, *, clock: Callable[[], float] | None = None) -> None:
        self.knobs = knobs
        self.clock = FakeClock(clock or time.monotonic)
        self.lock = threading.RLock()
        self._requests: list[JSON] = []
        self._initial_knobs = dataclasses.replace(knobs)

    def remember_initial_knobs(self) -> None:
        """Make the current knobs the ones :meth:`reset` goes back to."""
        with self.lock:
            self._initial_knobs = dataclasses.replace(self.knobs)

    def reset(self) -> None:
        """Forget every session, token and request; knobs and clock back to the start."""
        with self.lock:
            self.knobs = dataclasses.replace(self._initial_knobs)
            self.clock.offset = 0.0
            self._requests.clear()
            self.clear_state()

    # --- knobs ---------------------------------------------------------------------
    def actions(self) -> dict[str, Callable[[Any], None]]:
        """Config keys that do something once rather than set a knob."""
        return {"advance_clock_s": lambda s: self.clock.advance(float(s))}

    def configure(self, **changes: Any) -> JSON:
        """Set knobs and run actions; unknown names raise ValueError. Returns the knobs."""
        names = {f.name: f for f in dataclasses.fields(self.knobs)}
        actions = self.actions()
        defaults = type(self.knobs)()
        values = {}
        for key, value in changes.items():
            if key in names:
                values[key] = coerce(value, getattr(defaults, key), key)
            elif key not in actions:
                raise ValueError(f"unknown knob {key!r}")
        with self.lock:
            for key, value in values.items():
                setattr(self.knobs, key, value)
            for key, value in changes.items():
                if key in actions:
                    actions[key](value)
            return self.knob_values()

    def knob_values(self) -> JSON:
        """The current knobs as JSON."""
        with self.lock:
            values = dataclasses.asdict(self.knobs)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    # --- request log ---------------------------------------------------------------
    def record(self, request: Request, body: bytes) -> JSON:
        """Log one API request; the entry gets its answer's status later."""
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        entry: JSON = {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "json": parsed,
            "at": self.clock(),
            "status": None,
        }
        with self.lock:
            self._requests.append(entry)
        return entry

    def requests(self, path: str | None = None) -> list[JSON]:
        """Every API request so far (only those whose path contains ``path``, if given)."""
        with self.lock:
            return [dict(r) for r in self._requests if path is None or path in r["path"]]

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    # --- faults --------------------------------------------------------------------
    def take_fault(self, path: str) -> str | None:
        """The fault this request suffers ("hang", "fail", "rate_limit"), counting it down."""
        with self.lock:
            knobs = self.knobs
            if knobs.fault_paths and not any(p in path for p in knobs.fault_paths):
                return None
            for kind, attr in (
                ("hang", "hang_next"),
                ("fail", "fail_next"),
                ("rate_limit", "rate_limit_next"),
            ):
                if getattr(knobs, attr) > 0:
                    setattr(knobs, attr, getattr(knobs, attr) - 1)
                    return kind
        return None

    def error_body(self, status: int, message: str) -> JSON:
        """The body of an injected failure, in the provider's error envelope."""
        return {"code": status, "message": message}

    # --- to be provided by each fake ----------------------------------------------
    def open_sessions(self) -> list[JSON]:
        raise NotImplementedError

    def all_sessions(self) -> list[JSON]:
        raise NotImplementedError

    def clear_state(self) -> None:
        """Forget sessions and tokens (called under the lock)."""
        raise NotImplementedError


async def _hang(request: Request, limit_s: float) -> None:
    """Hold the request until the client gives up (or ``limit_s`` passes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.02)


def api_endpoint(
    fake: ProviderFake[Any], handler: Callable[[Request, Any], Answer]
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a synchronous handler(request, json_body) with logging, latency and faults."""

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        entry = fake.record(request, raw)
        latency = fake.knobs.latency_s
        if latency > 0:
            await asyncio.sleep(latency)
        fault = fake.take_fault(request.url.path)
        if fault == "hang":
            await _hang(request, fake.knobs.hang_s)
            answer = Answer(fake.error_body(504, "gateway timeout (fake hang)"), 504)
        elif fault == "fail":
            status = fake.knobs.fail_status
            answer = Answer(fake.error_body(status, "injected failure"), status)
        elif fault == "rate_limit":
            answer = Answer(
                fake.error_body(429, "too many requests"),
                429,
                {"Retry-After": f"{fake.knobs.retry_after_s:g}"},
            )
        else:
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = ValueError("not JSON")
            with fake.lock:
                answer = handler(request, body)
        entry["status"] = answer.status
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    return endpoint


def control_routes(fake: ProviderFake[Any]) -> list[Route]:
    """The ``/_fake/*`` routes every provider fake answers."""

    async def get_config(request: Request) -> Response:
        return JSONResponse(fake.knob_values())

    async def post_config(request: Request) -> Response:
        try:
            changes = json.loads(await request.body() or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("the config must be a JSON object")
            return JSONResponse(fake.configure(**changes))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def get_requests(request: Request) -> Response:
        return JSONResponse(fake.requests(request.query_params.get("path")))

    async def get_sessions(request: Request) -> Response:
        every = request.query_params.get("all") in ("1", "true")
        return JSONResponse(fake.all_sessions() if every else fake.open_sessions())

    async def post_reset(request: Request) -> Response:
        fake.reset()
        return JSONResponse({"ok": True})

    return [
        Route("/_fake/config", get_config, methods=["GET"]),
        Route("/_fake/config", post_config, methods=["POST"]),
        Route("/_fake/requests", get_requests, methods=["GET"]),
        Route("/_fake/sessions", get_sessions, methods=["GET"]),
        Route("/_fake/reset", post_reset, methods=["POST"]),
    ]


def build_app(fake: ProviderFake[Any], routes: list[Route]) -> Starlette:
    """The ASGI app of a fake; ``app.state.fake`` is its state."""
    app = Starlette(routes=[*routes, *control_routes(fake)])
    app.state.fake = fake
    return app


F = TypeVar("F", bound=ProviderFake[Any])


class RunningFake(Generic[F]):
    """A fake serving on loopback: ``base_url`` for clients, ``fake`` for knobs and checks."""

    def __init__(self, fake: F, server: LoopbackServer) -> None:
        self.fake = fake
        self.server = server
        self.base_url = server.base_url

    def configure(self, **knobs: Any) -> JSON:
        return self.fake.configure(**knobs)


@contextmanager
def running(app: Starlette, *, port: int | None = None) -> Iterator[RunningFake[Any]]:
    """Serve a fake's app on loopback for the duration of the block."""
    server = LoopbackServer(app, port=port).start()
    try:
        yield RunningFake(app.state.fake, server)
    finally:
        server.stop()


def main(
    argv: list[str] | None,
    *,
    name: str,
    description: str,
    create_app: Callable[..., Starlette],
    knobs: FaultKnobs,
    actions: list[str],
) -> None:
    """``python -m tests.fakes.<name> --port N``: run the fake until interrupted."""
    epilog = (
        "knobs (defaults): "
        + ", ".join(f"{f.name}={getattr(knobs, f.name)!r}" for f in dataclasses.fields(knobs))
        + ". Actions for POST /_fake/config: "
        + ", ".join(actions)
        + ". Control: GET/POST /_fake/config, GET /_fake/requests, "
        "GET /_fake/sessions[?all=1], POST /_fake/reset."
    )
    parser = argparse.ArgumentParser(
        prog=f"python -m tests.fakes.{name}", description=description, epilog=epilog
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument(
        "--config",
        default="{}",
        help='initial knobs as a JSON object, e.g. \'{"latency_s": 0.2, "api_key": "k"}\'',
    )
    args = parser.parse_args(argv)
    try:
        knobs = json.loads(args.config)
        if not isinstance(knobs, dict):
            raise ValueError("--config must be a JSON object")
        app = create_app(**knobs)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    port = args.port
    if port == 0:
        from tests.fakes.loopback import free_port

        port = free_port()
    print(json.dumps({"fake": name, "base_url": f"http://{args.host}:{port}"}), flush=True)
    uvicorn.run(app, host=args.host, port=port, log_level="warning")
