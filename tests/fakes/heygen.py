"""A loopback fake of HeyGen Streaming (Interactive Avatar), faithful to its HTTP contract.

Contract: shared/reference/provider-apis.md §1. Sessions go new → connected (start) →
closed (stop, idle timeout, duration limit, or killed by a test). A task before start
is ``400006`` with HTTP 400; anything on a closed session is ``10005``; stop twice is
fine. Both auth headers are accepted: ``x-api-key: <key>`` and ``Authorization: Bearer
<key or session token>``; a session token from ``create_token`` is bound to the one
session it creates. The fake "speaks" each task for ``ms_per_char`` per character, so a
session closed while speaking records a cut utterance (``cut_tasks``).

Codes HeyGen does not document (unknown session, quota, concurrency) are the fake's
own choice, with HeyGen-like messages; clients must not depend on them.

Run standalone: ``python -m tests.fakes.heygen --port 8790``.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

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

MISSING_PARAMS = 40001
INVALID_PARAMETER = 400175
INVALID_CREDENTIALS = 40009
UNAUTHORIZED = 400112
AVATAR_NOT_FOUND = 10013
NOT_IN_CORRECT_STATE = 400006
STATE_CLOSED = 10005
# The fake's own choices (undocumented at HeyGen):
UNKNOWN_SESSION = 10004
CONCURRENCY_LIMIT = 10007
QUOTA_EXCEEDED = 10008

QUALITIES = ("high", "medium", "low")
TASK_TYPES = ("repeat", "chat", "talk")
TASK_MODES = ("sync", "async")


@dataclasses.dataclass
class HeyGenKnobs(FaultKnobs):
    """Knobs of the HeyGen fake (plus the fault knobs)."""

    api_key: str = "test-heygen-key"
    envelope: str = "code"  # "code": {code: 100, message, data}; "error": {error: null, data}
    max_concurrent: int = 100
    session_duration_limit_s: float = 600.0
    idle_timeout_s: float = 0.0  # > 0 overrides every session's activity_idle_timeout
    quota_exceeded: bool = False
    quota_http_status: int = 402
    avatars: tuple[str, ...] = ()  # when not empty, only these avatar ids exist
    ms_per_char: float = 60.0


@dataclasses.dataclass
class FakeHeyGenSession:
    """One session the fake holds."""

    session_id: str
    avatar_id: str | None
    quality: str
    request: JSON
    idle_timeout_s: float | None
    duration_limit_s: float
    created_at: float
    created_unix: float
    last_activity: float
    access_token: str
    status: str = "new"  # new, connected, closed
    started_at: float | None = None
    closed_at: float | None = None
    closed_reason: str | None = None
    tasks: list[JSON] = dataclasses.field(default_factory=list)
    keep_alives: int = 0
    interrupts: int = 0

    @property
    def is_open(self) -> bool:
        return self.status != "closed"

    def to_json(self) -> JSON:
        return {
            "session_id": self.session_id,
            "status": self.status,
            "avatar_id": self.avatar_id,
            "quality": self.quality,
            "request": self.request,
            "idle_timeout_s": self.idle_timeout_s,
            "duration_limit_s": self.duration_limit_s,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "last_activity": self.last_activity,
            "closed_at": self.closed_at,
            "closed_reason": self.closed_reason,
            "keep_alives": self.keep_alives,
            "interrupts": self.interrupts,
            "tasks": [dict(t) for t in self.tasks],
            "cut_tasks": sum(1 for t in self.tasks if t["cut"]),
        }


class HeyGenFake(ProviderFake[HeyGenKnobs]):
    """The state of the HeyGen fake: sessions, session tokens, knobs, request log."""

    provider = "heygen"

    def __init__(self, knobs: HeyGenKnobs, **kwargs: Any) -> None:
        super().__init__(knobs, **kwargs)
        self.sessions: dict[str, FakeHeyGenSession] = {}
        self.tokens: dict[str, str | None] = {}  # session token -> the session it created

    def actions(self) -> dict[str, Any]:
        return {**super().actions(), "kill_sessions": self.kill_sessions}

    # --- test-facing ---------------------------------------------------------------
    def kill_sessions(self, ids: list[str] | str = "all", reason: str = "killed") -> int:
        """Close sessions as if HeyGen dropped them; returns how many were open."""
        with self.lock:
            self._expire()
            chosen = self.sessions.keys() if ids == "all" else ids
            count = 0
            for session_id in list(chosen):
                session = self.sessions.get(session_id)
                if session is not None and session.is_open:
                    self._close(session, self.clock(), reason)
                    count += 1
            return count

    def open_sessions(self) -> list[JSON]:
        with self.lock:
            self._expire()
            return [s.to_json() for s in self.sessions.values() if s.is_open]

    def all_sessions(self) -> list[JSON]:
        with self.lock:
            self._expire()
            return [s.to_json() for s in self.sessions.values()]

    def session(self, session_id: str) -> JSON:
        with self.lock:
            self._expire()
            return self.sessions[session_id].to_json()

    def clear_state(self) -> None:
        self.sessions.clear()
        self.tokens.clear()

    # --- lifecycle -----------------------------------------------------------------
    def _expire(self) -> None:
        now = self.clock()
        for session in self.sessions.values():
            if not session.is_open:
                continue
            ends: list[tuple[float, str]] = [
                (session.created_at + session.duration_limit_s, "duration_limit")
            ]
            if session.idle_timeout_s is not None:
                ends.append((session.last_activity + session.idle_timeout_s, "idle_timeout"))
            at, reason = min(ends)
            if at <= now:
                self._close(session, at, reason)

    def _close(self, session: FakeHeyGenSession, at: float, reason: str) -> None:
        session.status = "closed"
        session.closed_at = at
        session.closed_reason = reason
        for task in session.tasks:
            if not task["interrupted"] and task["ends_at"] > at:
                task["cut"] = True

    # --- envelopes -----------------------------------------------------------------
    def ok(self, data: JSON | None) -> Answer:
        if self.knobs.envelope == "error":
            return Answer({"error": None, "data": data})
        body: JSON = {"code": 100, "message": "success"}
        if data is not None:
            body["data"] = data
        return Answer(body)

    @staticmethod
    def err(status: int, code: int, message: str) -> Answer:
        return Answer({"code": code, "message": message}, status)

    # --- auth ----------------------------------------------------------------------
    def authorize(self, request: Request, *, session_id: str | None = None) -> Answer | str:
        """ "key", "token:<t>", or the 401 answer."""
        api_key = request.headers.get("x-api-key")
        authorization = request.headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        if api_key is None and bearer is None:
            return self.err(401, UNAUTHORIZED, "Unauthorized")
        if self.knobs.api_key in (api_key, bearer):
            return "key"
        if bearer is not None and bearer in self.tokens:
            bound = self.tokens[bearer]
            if session_id is not None and bound is not None and bound != session_id:
                return self.err(401, UNAUTHORIZED, "Session token does not match the session")
            return f"token:{bearer}"
        return self.err(401, INVALID_CREDENTIALS, "Invalid credentials")

    def _body(self, body: Any) -> JSON | Answer:
        if isinstance(body, ValueError):
            return self.err(400, INVALID_PARAMETER, "Invalid parameter: body is not JSON")
        if body is None:
            return {}
        if not isinstance(body, dict):
            return self.err(400, INVALID_PARAMETER, "Invalid parameter: body is not an object")
        return body

    def _session_for(self, request: Request, body: Any) -> FakeHeyGenSession | Answer:
        parsed = self._body(body)
        if isinstance(parsed, Answer):
            return parsed
        session_id = parsed.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            return self.err(400, MISSING_PARAMS, "Missing params: session_id")
        auth = self.authorize(request, session_id=session_id)
        if isinstance(auth, Answer):
            return auth
        self._expire()
        session = self.sessions.get(session_id)
        if session is None:
            return self.err(404, UNKNOWN_SESSION, "Session not found")
        return session

    # --- endpoints -----------------------------------------------------------------
    def create_token(self, request: Request, body: Any) -> Answer:
        refusal = self._api_key_only(request)
        if refusal is not None:
            return refusal
        token = f"hgst-{uuid.uuid4().hex}"
        self.tokens[token] = None
        return self.ok({"token": token})

    def new(self, request: Request, body: Any) -> Answer:
        auth = self.authorize(request)
        if isinstance(auth, Answer):
            return auth
        if auth.startswith("token:") and self.tokens[auth[6:]] is not None:
            return self.err(401, UNAUTHORIZED, "Session token already used")
        parsed = self._body(body)
        if isinstance(parsed, Answer):
            return parsed
        knobs = self.knobs
        if parsed.get("version", "v2") != "v2":
            return self.err(400, INVALID_PARAMETER, "Invalid parameter: version v1 is unsupported")
        quality = parsed.get("quality", "medium")
        if quality not in QUALITIES:
            return self.err(400, INVALID_PARAMETER, f"Invalid parameter: quality {quality!r}")
        avatar_id = parsed.get("avatar_id") or parsed.get("avatar_name")
        if knobs.avatars and avatar_id not in knobs.avatars:
            return self.err(400, AVATAR_NOT_FOUND, "avatar not found")
        idle = parsed.get("activity_idle_timeout", 120)
        if isinstance(idle, bool) or not isinstance(idle, int | float) or not 30 <= idle <= 3600:
            return self.err(400, INVALID_PARAMETER, "Invalid parameter: activity_idle_timeout")
        if knobs.quota_exceeded:
            return self.err(
                knobs.quota_http_status, QUOTA_EXCEEDED, "Insufficient credits: quota exceeded"
            )
        self._expire()
        if sum(1 for s in self.sessions.values() if s.is_open) >= knobs.max_concurrent:
            return self.err(
                400,
                CONCURRENCY_LIMIT,
                "Concurrent limit reached, please make sure you have closed other "
                "testing sessions under the same account",
            )
        idle_timeout: float | None = float(knobs.idle_timeout_s or idle)
        if parsed.get("disable_idle_timeout") is True:
            idle_timeout = None
        now = self.clock()
        session = FakeHeyGenSession(
            session_id=str(uuid.uuid4()),
            avatar_id=avatar_id if isinstance(avatar_id, str) else None,
            quality=quality,
            request=parsed,
            idle_timeout_s=idle_timeout,
            duration_limit_s=knobs.session_duration_limit_s,
            created_at=now,
            created_unix=time.time(),
            last_activity=now,
            access_token=f"lk-{uuid.uuid4().hex}",
        )
        self.sessions[session.session_id] = session
        if auth.startswith("token:"):
            self.tokens[auth[6:]] = session.session_id
        return self.ok(
            {
                "session_id": session.session_id,
                "url": "wss://fake-heygen.livekit.invalid",
                "access_token": session.access_token,
                "realtime_endpoint": f"wss://fake-heygen.invalid/v1/ws/{session.session_id}",
                "livekit_agent_token": f"lka-{uuid.uuid4().hex}",
                "is_paid": True,
                "session_duration_limit": int(knobs.session_duration_limit_s),
                "sdp": None,
                "ice_servers": None,
                "ice_servers2": None,
            }
        )

    def start(self, request: Request, body: Any) -> Answer:
        session = self._session_for(request, body)
        if isinstance(session, Answer):
            return session
        if session.status == "closed":
            return self.err(400, STATE_CLOSED, "session state wrong: closed")
        if session.status != "new":
            return self.err(400, NOT_IN_CORRECT_STATE, "Session is not in correct state")
        session.status = "connected"
        session.started_at = session.last_activity = self.clock()
        return self.ok({"status": "success"})

    def task(self, request: Request, body: Any) -> Answer:
        session = self._session_for(request, body)
        if isinstance(session, Answer):
            return session
        if session.status == "closed":
            return self.err(400, STATE_CLOSED, "session state wrong: closed")
        if session.status != "connected":
            return self.err(400, NOT_IN_CORRECT_STATE, "Session is not in correct state")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return self.err(400, MISSING_PARAMS, "Missing params: text")
        task_type = body.get("task_type", "talk")
        task_mode = body.get("task_mode", "sync")
        if task_type not in TASK_TYPES or task_mode not in TASK_MODES:
            return self.err(400, INVALID_PARAMETER, "Invalid parameter: task_type or task_mode")
        now = self.clock()
        speaking_until = max([now] + [t["ends_at"] for t in session.tasks if not t["interrupted"]])
        duration_ms = len(text) * self.knobs.ms_per_char
        task = {
            "task_id": str(uuid.uuid4()),
            "text": text,
            "task_type": task_type,
            "task_mode": task_mode,
            "at": now,
            "starts_at": speaking_until,
            "ends_at": speaking_until + duration_ms / 1000,
            "duration_ms": duration_ms,
            "interrupted": False,
            "cut": False,
        }
        session.tasks.append(task)
        session.last_activity = max(session.last_activity, task["ends_at"])
        return self.ok({"duration_ms": float(duration_ms), "task_id": task["task_id"]})

    def interrupt(self, request: Request, body: Any) -> Answer:
        session = self._session_for(request, body)
        if isinstance(session, Answer):
            return session
        if session.status == "closed":
            return self.err(400, STATE_CLOSED, "session state wrong: closed")
        if session.status != "connected":
            return self.err(400, NOT_IN_CORRECT_STATE, "Session is not in correct state")
        now = self.clock()
        for task in session.tasks:
            if not task["interrupted"] and task["ends_at"] > now:
                task["interrupted"] = True
                task["ends_at"] = max(now, task["starts_at"])
        session.interrupts += 1
        session.last_activity = now
        return self.ok(None)

    def keep_alive(self, request: Request, body: Any) -> Answer:
        session = self._session_for(request, body)
        if isinstance(session, Answer):
            return session
        if session.status == "closed":
            return self.err(400, STATE_CLOSED, "session state wrong: closed")
        session.keep_alives += 1
        session.last_activity = max(session.last_activity, self.clock())
        return self.ok(None)

    def stop(self, request: Request, body: Any) -> Answer:
        session = self._session_for(request, body)
        if isinstance(session, Answer):
            return session
        if session.is_open:
            self._close(session, self.clock(), "stopped")
        return self.ok({"status": "success"})

    def _api_key_only(self, request: Request) -> Answer | None:
        auth = self.authorize(request)
        if isinstance(auth, Answer):
            return auth
        if auth != "key":
            return self.err(401, UNAUTHORIZED, "This endpoint needs the API key")
        return None

    def list_v1(self, request: Request, body: Any) -> Answer:
        refusal = self._api_key_only(request)
        if refusal is not None:
            return refusal
        self._expire()
        sessions = [
            {"session_id": s.session_id, "status": s.status, "created_at": int(s.created_unix)}
            for s in self.sessions.values()
            if s.is_open
        ]
        return self.ok({"sessions": sessions})

    def list_v2(self, request: Request, body: Any) -> Answer:
        refusal = self._api_key_only(request)
        if refusal is not None:
            return refusal
        query = request.query_params
        try:
            token = query.get("token") or query.get("pagination_token")
            page = int(token) if token else int(query.get("page", "1"))
            page_size = int(query.get("page_size", "100"))
        except ValueError:
            return self.err(400, INVALID_PARAMETER, "Invalid parameter: page")
        if page < 1 or not 1 <= page_size <= 100:
            return self.err(400, INVALID_PARAMETER, "Invalid parameter: page or page_size")
        self._expire()
        status = query.get("status")
        rows = [s for s in self.sessions.values() if status is None or s.status == status]
        chunk = rows[(page - 1) * page_size : page * page_size]
        more = page * page_size < len(rows)
        items = [
            {
                "session_id": s.session_id,
                "status": s.status,
                "created_at": int(s.created_unix),
                "api_key_type": "api",
                "duration": round(((s.closed_at or self.clock()) - s.created_at), 3),
                "avatar_id": s.avatar_id,
                "voice_name": (s.request.get("voice") or {}).get("voice_id"),
            }
            for s in chunk
        ]
        envelope: JSON = (
            {"error": None}
            if self.knobs.envelope == "error"
            else {"code": 100, "message": "success"}
        )
        return Answer(
            {
                **envelope,
                "total": len(rows),
                "page": page,
                "page_size": page_size,
                "next_pagination_token": str(page + 1) if more else None,
                "data": items,
            }
        )


def create_app(*, clock: Any = None, **knobs: Any) -> Starlette:
    """The fake's ASGI app; ``knobs`` are HeyGenKnobs fields; ``app.state.fake`` is its state."""
    fake = HeyGenFake(HeyGenKnobs(), clock=clock)
    fake.configure(**knobs)
    fake.remember_initial_knobs()
    endpoints = {
        "/v1/streaming.create_token": (fake.create_token, "POST"),
        "/v1/streaming.new": (fake.new, "POST"),
        "/v1/streaming.start": (fake.start, "POST"),
        "/v1/streaming.task": (fake.task, "POST"),
        "/v1/streaming.interrupt": (fake.interrupt, "POST"),
        "/v1/streaming.keep_alive": (fake.keep_alive, "POST"),
        "/v1/streaming.stop": (fake.stop, "POST"),
        "/v1/streaming.list": (fake.list_v1, "GET"),
        "/v2/streaming.list": (fake.list_v2, "GET"),
    }
    routes = [
        Route(path, api_endpoint(fake, handler), methods=[method])
        for path, (handler, method) in endpoints.items()
    ]
    return build_app(fake, routes)


HeyGenServer = RunningFake[HeyGenFake]


@contextmanager
def serve_heygen(*, port: int | None = None, **knobs: Any) -> Iterator[HeyGenServer]:
    """The fake on loopback for the duration of the block; ``knobs`` as in :func:`create_app`."""
    with running(create_app(**knobs), port=port) as server:
        yield server


if __name__ == "__main__":
    main(
        None,
        name="heygen",
        description="Fake HeyGen Streaming API on loopback (knobs: POST /_fake/config).",
        create_app=create_app,
        knobs=HeyGenKnobs(),
        actions=["advance_clock_s", "kill_sessions"],
    )
