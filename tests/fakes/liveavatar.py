"""A loopback fake of LiveAvatar (HeyGen's real-time avatars): REST, the LITE socket, credits.

Contract: shared/reference/provider-apis.md §1. ``X-API-KEY`` for the account's calls, the
session's Bearer token for ``/v1/sessions/start`` (an API key there is a 401) and ``DELETE
/v1/sessions``; envelope ``{code: 1000, data, message}``; 422 in FastAPI's ``detail`` form;
429 with ``Retry-After`` and ``X-RateLimit-Reset`` past ``rate_limit_per_s`` calls per caller
and endpoint in a fixed 1 s window. Credits and timeouts follow
:mod:`tests.fakes.liveavatar_session`. A start without credit for a minute is refused with
HTTP 402 (the fake's choice of status; the message says "insufficient credits").

The LITE socket is ``ws_url`` from ``start``. FULL mode's LiveKit data channel has a stand-in:
``POST /_fake/datachannel/{session_id}`` takes one ``agent-control`` packet as the browser
would publish it and answers the ``agent-response`` events.

Run standalone: ``python -m tests.fakes.liveavatar --port 8792``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.fakes.liveavatar_session import CREDITS_PER_MINUTE, FakeLiveSession
from tests.fakes.provider_fake import (
    JSON,
    Answer,
    FaultKnobs,
    ProviderFake,
    RunningFake,
    api_endpoint,
    build_app,
    main,
    running,
)

SANDBOX_AVATAR_ID = "dd73ea75-1218-4ef3-92ce-606d5f7fbc0a"
END_REASONS = (
    "UNKNOWN",
    "USER_DISCONNECTED",
    "SERVER_ERROR",
    "IDLE_TIMEOUT",
    "NO_CREDITS",
    "USER_CLOSED",
    "AVATAR_DELETED",
    "MAX_DURATION_REACHED",
    "ZOMBIE_SESSION_REAP",
    "AGENT_HANG_UP",
)
DEFAULT_AVATARS = (
    ("0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01", "Ann, office"),
    ("7f3c2b9a-2d4e-4f7a-8c1b-3e5d6a7b8c02", "Bryan, studio"),
)


@dataclasses.dataclass
class LiveAvatarKnobs(FaultKnobs):
    """Knobs of the LiveAvatar fake (plus the fault knobs)."""

    api_key: str = "test-liveavatar-key"
    credits: float = 1000.0
    idle_timeout_s: float = 300.0
    max_session_duration_s: float = 1200.0
    connect_delay_s: float = 0.02
    playback_rate: float = 1.0  # 0: audio "plays" instantly
    ms_per_char: float = 60.0
    rate_limit_per_s: int = 0  # 0: no limit
    avatars: tuple[str, ...] = ()  # when not empty, only these avatar ids exist
    success_code: int = 1000  # the SDK's; the OpenAPI's default is 100


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class LiveAvatarFake(ProviderFake[LiveAvatarKnobs]):
    """The state of the LiveAvatar fake."""

    provider = "liveavatar"

    def __init__(self, knobs: LiveAvatarKnobs, **kwargs: Any) -> None:
        super().__init__(knobs, **kwargs)
        self.sessions: dict[str, FakeLiveSession] = {}
        self.credit = [knobs.credits]
        self._windows: dict[tuple[str, str, int], int] = {}

    def actions(self) -> dict[str, Any]:
        return {**super().actions(), "kill_sessions": self.kill_sessions}

    def configure(self, **changes: Any) -> JSON:
        result = super().configure(**changes)
        if "credits" in changes:
            with self.lock:
                self.credit[0] = self.knobs.credits
        return result

    def clear_state(self) -> None:
        self.sessions.clear()
        self._windows.clear()
        self.credit[0] = self.knobs.credits

    def wall(self) -> datetime:
        """Wall time on the fake clock (advancing the clock moves it too)."""
        return datetime.now(UTC) + timedelta(seconds=self.clock.offset)

    def tick(self) -> None:
        now, iso = self.clock(), _iso(self.wall())
        for session in self.sessions.values():
            session.tick(
                now, credits=self.credit, idle_timeout_s=self.knobs.idle_timeout_s, iso=iso
            )

    # --- test-facing ---------------------------------------------------------------
    def kill_sessions(self, ids: list[str] | str = "all", reason: str = "SERVER_ERROR") -> int:
        with self.lock:
            self.tick()
            chosen = list(self.sessions) if ids == "all" else list(ids)
            count = 0
            for session_id in chosen:
                session = self.sessions.get(session_id)
                if session is not None and session.is_open:
                    session.end(self.clock(), reason, _iso(self.wall()))
                    count += 1
            return count

    def open_sessions(self) -> list[JSON]:
        with self.lock:
            self.tick()
            return [s.to_json(self.clock()) for s in self.sessions.values() if s.is_open]

    def all_sessions(self) -> list[JSON]:
        with self.lock:
            self.tick()
            return [s.to_json(self.clock()) for s in self.sessions.values()]

    def session(self, session_id: str) -> JSON:
        with self.lock:
            self.tick()
            return self.sessions[session_id].to_json(self.clock())

    # --- helpers -------------------------------------------------------------------
    def ok(self, data: Any = None, status: int = 200) -> Answer:
        return Answer({"code": self.knobs.success_code, "data": data, "message": "success"}, status)

    def err(self, status: int, message: str, headers: dict[str, str] | None = None) -> Answer:
        return Answer({"code": status, "message": message}, status, headers)

    def invalid(self, loc: list[str], msg: str) -> Answer:
        return Answer({"detail": [{"loc": loc, "msg": msg, "type": "value_error"}]}, 422)

    def _throttle(self, request: Request, caller: str) -> Answer | None:
        limit = self.knobs.rate_limit_per_s
        if limit <= 0:
            return None
        second = math.floor(self.clock())
        key = (caller, request.url.path, second)
        self._windows[key] = self._windows.get(key, 0) + 1
        if self._windows[key] <= limit:
            return None
        reset = second + 1 - self.clock()
        return self.err(
            429,
            "rate limit exceeded",
            {"Retry-After": f"{max(reset, 0.01):.2f}", "X-RateLimit-Reset": str(second + 1)},
        )

    def _key(self, request: Request) -> Answer | None:
        if request.headers.get("authorization"):
            return self.err(401, "this endpoint takes the API key (X-API-KEY), not a Bearer token")
        key = request.headers.get("x-api-key")
        if key != self.knobs.api_key:
            return self.err(401, "invalid API key")
        return self._throttle(request, key)

    def _bearer(self, request: Request) -> FakeLiveSession | Answer:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        for session in self.sessions.values():
            if token and session.session_token == token:
                return self._throttle(request, token) or session
        return self.err(401, "invalid or missing session token")

    def _key_or_bearer(self, request: Request, body: JSON) -> FakeLiveSession | Answer:
        if request.headers.get("authorization"):
            return self._bearer(request)
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        session = self.sessions.get(str(body.get("session_id")))
        return session if session is not None else self.err(404, "session not found")

    # --- endpoints -----------------------------------------------------------------
    def token(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        if not isinstance(body, dict):
            return self.invalid(["body"], "a JSON object is required")
        mode = body.get("mode", "FULL")
        if mode not in CREDITS_PER_MINUTE:
            return self.invalid(["body", "mode"], "must be FULL or LITE")
        avatar_id = body.get("avatar_id")
        if not isinstance(avatar_id, str) or not avatar_id:
            return self.invalid(["body", "avatar_id"], "field required")
        sandbox = body.get("is_sandbox") is True
        if sandbox and avatar_id != SANDBOX_AVATAR_ID:
            return self.err(400, f"sandbox sessions use avatar {SANDBOX_AVATAR_ID} only")
        known = self.knobs.avatars or tuple(a for a, _ in DEFAULT_AVATARS) + (SANDBOX_AVATAR_ID,)
        if self.knobs.avatars and avatar_id not in known:
            return self.err(404, "avatar not found")
        persona = body.get("avatar_persona")
        silent = mode == "FULL" and not (isinstance(persona, dict) and persona.get("context_id"))
        limit = body.get("max_session_duration", self.knobs.max_session_duration_s)
        session = FakeLiveSession(
            session_id=str(uuid.uuid4()),
            session_token=f"st-{uuid.uuid4().hex}",
            ws_token=uuid.uuid4().hex,
            mode=mode,
            avatar_id=avatar_id,
            is_sandbox=sandbox,
            request=body,
            created_iso=_iso(self.wall()),
            created_at=self.clock(),
            max_duration_s=float(limit),
            silent=silent,
        )
        self.sessions[session.session_id] = session
        return self.ok({"session_id": session.session_id, "session_token": session.session_token})

    def start(self, request: Request, body: Any) -> Answer:
        if request.headers.get("x-api-key") and not request.headers.get("authorization"):
            return self.err(401, "start takes the session token, not the API key")
        found = self._bearer(request)
        if isinstance(found, Answer):
            return found
        self.tick()
        if found.started_at is not None or not found.is_open:
            return self.err(400, "session already started")
        price = CREDITS_PER_MINUTE[found.mode]
        if not found.is_sandbox and self.credit[0] < price:
            return self.err(402, "insufficient credits to start a session")
        found.started_at = found.last_activity = self.clock()
        found.tick(
            self.clock(),
            credits=self.credit,
            idle_timeout_s=self.knobs.idle_timeout_s,
            iso=_iso(self.wall()),
        )
        base = str(request.base_url).rstrip("/").replace("http://", "ws://", 1)
        data: JSON = {
            "session_id": found.session_id,
            "livekit_url": "wss://fake-liveavatar.livekit.invalid",
            "livekit_client_token": f"lkc-{uuid.uuid4().hex}",
            "livekit_agent_token": f"lka-{uuid.uuid4().hex}",
            "max_session_duration": found.max_duration_s,
        }
        if found.mode == "LITE":
            data["ws_url"] = f"{base}/v1/ws/{found.session_id}?token={found.ws_token}"
        return self.ok(data, 201)

    def keep_alive(self, request: Request, body: Any) -> Answer:
        found = self._key_or_bearer(request, body if isinstance(body, dict) else {})
        if isinstance(found, Answer):
            return found
        self.tick()
        if not found.is_open:
            return self.err(400, f"session is already closed ({found.end_reason})")
        found.last_activity = self.clock()
        found.keep_alives += 1
        return self.ok()

    def stop(self, request: Request, body: Any) -> Answer:
        parsed = body if isinstance(body, dict) else {}
        reason = parsed.get("reason", "UNKNOWN")
        if reason not in END_REASONS:
            return self.invalid(["body", "reason"], f"unknown end reason {reason!r}")
        found = self._key_or_bearer(request, parsed)
        if isinstance(found, Answer):
            return found
        return self._stop(found, str(reason))

    def delete(self, request: Request, body: Any) -> Answer:
        found = self._bearer(request)
        return found if isinstance(found, Answer) else self._stop(found, "USER_CLOSED")

    def _stop(self, session: FakeLiveSession, reason: str) -> Answer:
        self.tick()
        if not session.is_open:
            return self.err(400, f"session is already closed ({session.end_reason})")
        session.end(self.clock(), reason, _iso(self.wall()))
        return self.ok()

    def list_sessions(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        query = request.query_params
        kind = query.get("type")
        if kind not in ("active", "historic"):
            return self.invalid(["query", "type"], "field required: active or historic")
        try:
            page, size = int(query.get("page", "1")), int(query.get("page_size", "20"))
        except ValueError:
            return self.invalid(["query", "page"], "must be an integer")
        if page < 1 or not 1 <= size <= 100:
            return self.invalid(["query", "page_size"], "page ≥ 1, 1 ≤ page_size ≤ 100")
        self.tick()
        rows = [s for s in self.sessions.values() if s.is_open == (kind == "active")]
        chunk = rows[(page - 1) * size : page * size]
        url = str(request.url.remove_query_params("page"))
        more = page * size < len(rows)
        return self.ok(
            {
                "count": len(rows),
                "next": f"{url}&page={page + 1}" if more else None,
                "previous": f"{url}&page={page - 1}" if page > 1 else None,
                "results": [s.listing(self.clock()) for s in chunk],
            }
        )

    def one_session(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        self.tick()
        session = self.sessions.get(request.path_params["session_id"])
        if session is None:
            return self.err(404, "session not found")
        return self.ok(session.listing(self.clock()))

    def list_avatars(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        pairs = [(a, f"Avatar {a[:8]}") for a in self.knobs.avatars] or list(DEFAULT_AVATARS)
        results = [
            {
                "id": avatar_id,
                "name": name,
                "preview_url": f"https://fake-liveavatar.invalid/previews/{avatar_id}.jpg",
                "is_public": True,
            }
            for avatar_id, name in pairs
        ]
        return self.ok({"count": len(results), "next": None, "results": results})


async def lite_socket(websocket: WebSocket) -> None:
    """The LITE control socket of one session."""
    fake: LiveAvatarFake = websocket.app.state.fake
    session_id = websocket.path_params["session_id"]
    with fake.lock:
        fake.tick()
        session = fake.sessions.get(session_id)
        valid = (
            session is not None
            and session.mode == "LITE"
            and session.started_at is not None
            and session.is_open
            and websocket.query_params.get("token") == session.ws_token
        )
    if session is None or not valid:
        await websocket.close(code=4401)
        return
    with fake.lock:
        session.socket_extensions = websocket.headers.get("sec-websocket-extensions")
    await websocket.accept()
    send_lock = asyncio.Lock()

    async def send(message: JSON) -> None:
        async with send_lock:
            await websocket.send_json(message)

    await send({"type": "session.state_updated", "state": "connecting"})
    with fake.lock:
        session.socket_connected = True
    connected = asyncio.Event()

    async def heartbeat() -> None:
        await asyncio.sleep(fake.knobs.connect_delay_s)
        connected.set()
        await send({"type": "session.state_updated", "state": "connected"})
        while True:
            await asyncio.sleep(0.01)
            with fake.lock:
                fake.tick()
                events = session.playback_events(fake.clock(), fake.knobs.playback_rate)
                ended, reason = not session.is_open, session.end_reason
            for event in events:
                await send(event)
            if ended:
                await send({"type": "session.state_updated", "state": "closing"})
                await send(
                    {"type": "session.state_updated", "state": "closed", "end_reason": reason}
                )
                await websocket.close()
                return

    beating = asyncio.create_task(heartbeat())
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text") or (message.get("bytes") or b"").decode(errors="replace")
            with fake.lock:
                fake.tick()
                out = session.on_socket_message(raw, fake.clock(), connected=connected.is_set())
            for event in out:
                await send(event)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
        with fake.lock:
            session.socket_connected = False


def datachannel_route(fake: LiveAvatarFake) -> Route:
    """``POST /_fake/datachannel/{session_id}``: one FULL-mode ``agent-control`` packet."""

    async def post_packet(request: Request) -> Response:
        raw = await request.body()
        with fake.lock:
            fake.tick()
            session = fake.sessions.get(request.path_params["session_id"])
            if session is None:
                return JSONResponse({"accepted": False, "error": "unknown session"}, 404)
            if session.mode != "FULL" or session.started_at is None or not session.is_open:
                return JSONResponse({"accepted": False, "error": "not a live FULL session"}, 409)
            ok, events = session.on_data_packet(raw, fake.clock(), fake.knobs.ms_per_char)
        return JSONResponse({"accepted": ok, "events": events}, 200 if ok else 400)

    return Route("/_fake/datachannel/{session_id}", post_packet, methods=["POST"])


def create_app(*, clock: Any = None, **knobs: Any) -> Starlette:
    """The fake's ASGI app; ``knobs`` are LiveAvatarKnobs fields."""
    fake = LiveAvatarFake(LiveAvatarKnobs(), clock=clock)
    fake.configure(**knobs)
    fake.remember_initial_knobs()
    endpoints = [
        ("/v1/sessions/token", fake.token, "POST"),
        ("/v1/sessions/start", fake.start, "POST"),
        ("/v1/sessions/keep-alive", fake.keep_alive, "POST"),
        ("/v1/sessions/stop", fake.stop, "POST"),
        ("/v1/sessions", fake.delete, "DELETE"),
        ("/v1/sessions", fake.list_sessions, "GET"),
        ("/v1/sessions/{session_id}", fake.one_session, "GET"),
        ("/v1/avatars", fake.list_avatars, "GET"),
    ]
    routes: list[Any] = [
        Route(path, api_endpoint(fake, handler), methods=[method])
        for path, handler, method in endpoints
    ]
    routes += [WebSocketRoute("/v1/ws/{session_id}", lite_socket), datachannel_route(fake)]
    return build_app(fake, routes)


LiveAvatarServer = RunningFake[LiveAvatarFake]


@contextmanager
def serve_liveavatar(*, port: int | None = None, **knobs: Any) -> Iterator[LiveAvatarServer]:
    """The fake on loopback for the duration of the block."""
    with running(create_app(**knobs), port=port) as server:
        yield server


if __name__ == "__main__":
    main(
        None,
        name="liveavatar",
        description="Fake LiveAvatar API on loopback (REST, the LITE WebSocket, and a stand-in "
        "for FULL mode's data channel: POST /_fake/datachannel/{session_id}).",
        create_app=create_app,
        knobs=LiveAvatarKnobs(),
        actions=["advance_clock_s", "kill_sessions"],
    )
