"""A loopback fake of Akool Live Avatar, faithful to its HTTP contract and data-stream limits.

Contract: shared/reference/provider-apis.md §2. Every answer is ``{code, msg, data}``;
``code != 1000`` is a failure, sent with HTTP ``error_http_status`` (200 by default, as
Akool's status on errors is not documented). Auth: ``x-api-key``, or ``Authorization:
Bearer <token>`` from ``getToken`` (Authorization wins when both are sent); tokens expire
after ``token_ttl_s`` (1101). A session answers status 1 at creation and moves 1 → 2 → 3
on ``session/detail`` polls (``polls_to_ready``), or to 4 with ``fail_sessions``; it ends
after its ``duration``, on close, or when a test kills it, and then reports
``closed_status`` (4 by default; Akool does not document it, so 3 can be chosen to model a
closed session that still looks live). Business errors use Akool's codes with their meanings:
1003 bad parameter, 1004 needs verification, 1005 too frequent, 1006 quota, 1014 avatar not
found, 1104 balance, 1214 processing, 1215 busy (the fake's concurrency limit), 1216 session
not found. A session created without ``mode_type: 1`` would answer with Akool's LLM: the
fake records it (``retells_verbatim``). Credits: the booked duration is pre-charged and what
was not used is refunded when the session ends (``credits_used_s``).

``POST /_fake/datastream/{session_id}`` takes one data-stream message exactly as the
browser sends it over Agora and checks it (see :mod:`tests.fakes.akool_datastream`);
``GET /_fake/violations`` lists what broke the rules.

Run standalone: ``python -m tests.fakes.akool --port 8791``.
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
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.akool_datastream import DataStreamChecker
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

SUCCESS = 1000
TOKEN_INVALID = 1101
TOKEN_EMPTY = 1102
ACCOUNT_BANNED = 1200
INVALID_PARAMETER = 1003
NEEDS_VERIFICATION = 1004
TOO_FREQUENT = 1005
QUOTA_INSUFFICIENT = 1006
RESOURCE_NOT_FOUND = 1014
BALANCE_INSUFFICIENT = 1104
AVATAR_PROCESSING = 1214
AVATAR_BUSY = 1215
SESSION_NOT_FOUND = 1216

STREAM_TYPES = ("agora", "livekit", "trtc")
REJECTING = {"message_too_large": 413, "rate_exceeded": 429}


@dataclasses.dataclass
class AkoolKnobs(FaultKnobs):
    """Knobs of the Akool fake (plus the fault knobs)."""

    api_key: str = "test-akool-key"
    client_id: str = "test-client-id"
    client_secret: str = "test-client-secret"
    token_ttl_s: float = 3600.0
    error_http_status: int = 200
    banned: bool = False
    quota_exceeded: bool = False
    balance_insufficient: bool = False
    unverified: bool = False
    too_frequent_next: int = 0
    avatar_processing: bool = False
    closed_status: int = 4
    max_concurrent: int = 100
    max_duration_s: int = 3600
    polls_to_ready: int = 2
    fail_sessions: bool = False
    avatars: tuple[str, ...] = ()  # when not empty, only these avatar ids exist
    max_message_bytes: int = 1024
    max_window_bytes: int = 6000
    window_s: float = 1.0
    chunk_budget_bytes: int = 950


@dataclasses.dataclass
class FakeAkoolSession:
    """One session the fake holds."""

    session_id: str
    uid: int
    avatar_id: str
    duration_s: int
    stream_type: str
    request: JSON
    credentials: JSON
    created_at: float
    created_unix: float
    polls_to_ready: int
    fails: bool
    datastream: DataStreamChecker
    closed_status: int = 4
    polls: int = 0
    closed_at: float | None = None
    closed_reason: str | None = None
    close_requests: int = 0

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def retells_verbatim(self) -> bool:
        return self.request.get("mode_type") == 1

    @property
    def credits_used_s(self) -> float | None:
        """Seconds charged once the session ended (the rest of the booking is refunded)."""
        if self.closed_at is None:
            return None
        return min(float(self.duration_s), self.closed_at - self.created_at)

    @property
    def status(self) -> int:
        if not self.is_open:
            return self.closed_status
        if self.polls >= self.polls_to_ready:
            return 4 if self.fails else 3
        return 1 if self.polls == 0 else 2

    def data(self) -> JSON:
        """The session as ``session/detail`` shows it."""
        return {
            "_id": self.session_id,
            "uid": self.uid,
            "type": 1,
            "status": self.status,
            "stream_type": self.stream_type,
            "credentials": dict(self.credentials),
        }

    def to_json(self) -> JSON:
        return {
            **self.data(),
            "session_id": self.session_id,
            "avatar_id": self.avatar_id,
            "duration_s": self.duration_s,
            "request": self.request,
            "created_at": self.created_at,
            "polls": self.polls,
            "closed_at": self.closed_at,
            "closed_reason": self.closed_reason,
            "close_requests": self.close_requests,
            "retells_verbatim": self.retells_verbatim,
            "credits_used_s": self.credits_used_s,
            "datastream_messages": len(self.datastream.accepted),
            "datastream_violations": len(self.datastream.violations),
        }


class AkoolFake(ProviderFake[AkoolKnobs]):
    """The state of the Akool fake: sessions, tokens, data-stream checks, request log."""

    provider = "akool"

    def __init__(self, knobs: AkoolKnobs, **kwargs: Any) -> None:
        super().__init__(knobs, **kwargs)
        self.sessions: dict[str, FakeAkoolSession] = {}
        self.tokens: dict[str, float] = {}  # token -> expiry on the fake clock
        self.violations: list[JSON] = []

    def actions(self) -> dict[str, Any]:
        return {
            **super().actions(),
            "kill_sessions": self.kill_sessions,
            "expire_tokens": lambda flag: self.expire_tokens() if flag else None,
        }

    def error_body(self, status: int, message: str) -> JSON:
        return {"code": status, "msg": message}

    # --- test-facing ---------------------------------------------------------------
    def kill_sessions(self, ids: list[str] | str = "all", reason: str = "killed") -> int:
        """End sessions as if Akool dropped them; returns how many were open."""
        with self.lock:
            self._expire()
            chosen = self.sessions.keys() if ids == "all" else ids
            count = 0
            for session_id in list(chosen):
                session = self.sessions.get(session_id)
                if session is not None and session.is_open:
                    session.closed_at, session.closed_reason = self.clock(), reason
                    count += 1
            return count

    def expire_tokens(self) -> None:
        """Make every Bearer token issued so far expired (the next call gets 1101)."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = float("-inf")

    def open_sessions(self) -> list[JSON]:
        with self.lock:
            self._expire()
            return [s.to_json() for s in self.sessions.values() if s.is_open]

    def all_sessions(self) -> list[JSON]:
        with self.lock:
            self._expire()
            return [s.to_json() for s in self.sessions.values()]

    def datastream(self, session_id: str) -> JSON:
        """What the session's data stream accepted and refused so far."""
        with self.lock:
            return self.sessions[session_id].datastream.summary()

    def all_violations(self, session_id: str | None = None) -> list[JSON]:
        with self.lock:
            return [v for v in self.violations if session_id in (None, v["session_id"])]

    def clear_state(self) -> None:
        self.sessions.clear()
        self.tokens.clear()
        self.violations.clear()

    # --- helpers -------------------------------------------------------------------
    def _expire(self) -> None:
        now = self.clock()
        for session in self.sessions.values():
            end = session.created_at + session.duration_s
            if session.is_open and end <= now:
                session.closed_at, session.closed_reason = end, "duration"

    def ok(self, data: Any = None, **extra: Any) -> Answer:
        body: JSON = {"code": SUCCESS, "msg": "OK", **extra}
        if data is not None:
            body["data"] = data
        return Answer(body)

    def err(self, code: int, message: str) -> Answer:
        return Answer({"code": code, "msg": message}, self.knobs.error_http_status)

    def authorize(self, request: Request) -> Answer | None:
        """None when the request may proceed, else the refusal."""
        if self.knobs.banned:
            return self.err(ACCOUNT_BANNED, "account is banned")
        if self.knobs.unverified:
            return self.err(NEEDS_VERIFICATION, "the account needs verification")
        if self.knobs.too_frequent_next > 0:
            self.knobs.too_frequent_next -= 1
            return self.err(TOO_FREQUENT, "Request too frequent, please try again later")
        authorization = request.headers.get("authorization", "").strip()
        if authorization:
            token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
            if self.tokens.get(token, float("-inf")) > self.clock():
                return None
            return self.err(TOKEN_INVALID, "invalid or expired authorization")
        api_key = request.headers.get("x-api-key")
        if api_key is None:
            return self.err(TOKEN_EMPTY, "authorization is empty")
        if api_key != self.knobs.api_key:
            return self.err(TOKEN_INVALID, "invalid or expired authorization")
        return None

    def _json(self, body: Any) -> JSON | Answer:
        if isinstance(body, ValueError) or (body is not None and not isinstance(body, dict)):
            return self.err(INVALID_PARAMETER, "Invalid parameter: the body is not a JSON object")
        return body or {}

    def _credentials(self, stream_type: str, given: Any, session_id: str) -> JSON:
        if stream_type == "agora":
            if isinstance(given, dict) and given.get("agora_channel"):
                return dict(given)
            return {
                "agora_uid": 100000 + len(self.sessions),
                "agora_app_id": "fake-agora-app",
                "agora_channel": f"fake-channel-{session_id}",
                "agora_token": f"agora-{uuid.uuid4().hex}",
            }
        if stream_type == "livekit":
            return {
                "livekit_url": "wss://fake-akool.livekit.invalid",
                "livekit_token": f"lk-{uuid.uuid4().hex}",
                "livekit_room_name": f"room-{session_id}",
                "livekit_server_identity": f"avatar-{session_id}",
                "livekit_client_identity": f"client-{session_id}",
            }
        return {
            "trtc_sdk_app_id": 1400000000,
            "trtc_sdk_room_id": f"room-{session_id}",
            "trtc_sdk_user_id": f"client-{session_id}",
            "trtc_sdk_user_sig": f"sig-{uuid.uuid4().hex}",
        }

    # --- endpoints -----------------------------------------------------------------
    def get_token(self, request: Request, body: Any) -> Answer:
        parsed = self._json(body)
        if isinstance(parsed, Answer):
            return parsed
        if (parsed.get("clientId"), parsed.get("clientSecret")) != (
            self.knobs.client_id,
            self.knobs.client_secret,
        ):
            return self.err(TOKEN_INVALID, "invalid clientId or clientSecret")
        token = f"akt-{uuid.uuid4().hex}"
        self.tokens[token] = self.clock() + self.knobs.token_ttl_s
        return self.ok(token=token)

    def create(self, request: Request, body: Any) -> Answer:
        refusal = self.authorize(request)
        if refusal is not None:
            return refusal
        parsed = self._json(body)
        if isinstance(parsed, Answer):
            return parsed
        knobs = self.knobs
        avatar_id = parsed.get("avatar_id")
        if not isinstance(avatar_id, str) or not avatar_id:
            return self.err(INVALID_PARAMETER, "Invalid parameter: avatar_id is required")
        if knobs.avatars and avatar_id not in knobs.avatars:
            return self.err(RESOURCE_NOT_FOUND, "resource not found: avatar")
        if knobs.avatar_processing:
            return self.err(AVATAR_PROCESSING, "live avatar processing")
        duration = parsed.get("duration", 600)
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not 1 <= duration <= knobs.max_duration_s
        ):
            return self.err(INVALID_PARAMETER, f"Invalid parameter: duration {duration!r}")
        stream_type = parsed.get("stream_type", "agora")
        if stream_type not in STREAM_TYPES:
            return self.err(INVALID_PARAMETER, f"Invalid parameter: stream_type {stream_type!r}")
        if knobs.quota_exceeded:
            return self.err(QUOTA_INSUFFICIENT, "quota insufficient")
        if knobs.balance_insufficient:
            return self.err(BALANCE_INSUFFICIENT, "insufficient balance")
        self._expire()
        if sum(1 for s in self.sessions.values() if s.is_open) >= knobs.max_concurrent:
            return self.err(AVATAR_BUSY, "Avatar is busy")
        session_id = uuid.uuid4().hex[:24]
        session = FakeAkoolSession(
            session_id=session_id,
            uid=len(self.sessions) + 1,
            avatar_id=avatar_id,
            duration_s=int(duration),
            stream_type=stream_type,
            request=parsed,
            credentials=self._credentials(stream_type, parsed.get("credentials"), session_id),
            created_at=self.clock(),
            created_unix=time.time(),
            polls_to_ready=knobs.polls_to_ready,
            fails=knobs.fail_sessions,
            closed_status=knobs.closed_status,
            datastream=DataStreamChecker(
                max_message_bytes=knobs.max_message_bytes,
                max_window_bytes=knobs.max_window_bytes,
                window_s=knobs.window_s,
                chunk_budget_bytes=knobs.chunk_budget_bytes,
            ),
        )
        self.sessions[session_id] = session
        return self.ok(session.data())

    def detail(self, request: Request, body: Any) -> Answer:
        refusal = self.authorize(request)
        if refusal is not None:
            return refusal
        self._expire()
        session = self.sessions.get(request.query_params.get("id", ""))
        if session is None:
            return self.err(SESSION_NOT_FOUND, "live avatar session not found")
        if session.is_open:
            session.polls += 1
        return self.ok(session.data())

    def close(self, request: Request, body: Any) -> Answer:
        refusal = self.authorize(request)
        if refusal is not None:
            return refusal
        parsed = self._json(body)
        if isinstance(parsed, Answer):
            return parsed
        session_id = parsed.get("id") or parsed.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            return self.err(INVALID_PARAMETER, "Invalid parameter: id is required")
        self._expire()
        session = self.sessions.get(session_id)
        if session is None:
            return self.err(SESSION_NOT_FOUND, "live avatar session not found")
        session.close_requests += 1
        if session.is_open:
            session.closed_at, session.closed_reason = self.clock(), "closed"
        return self.ok()

    def list_sessions(self, request: Request, body: Any) -> Answer:
        refusal = self.authorize(request)
        if refusal is not None:
            return refusal
        query = request.query_params
        try:
            page, size = int(query.get("page", "1")), int(query.get("size", "100"))
            status = int(query["status"]) if "status" in query else None
        except ValueError:
            return self.err(INVALID_PARAMETER, "Invalid parameter: page, size or status")
        if page < 1 or size < 1:
            return self.err(INVALID_PARAMETER, "Invalid parameter: page or size")
        self._expire()
        rows = [s for s in self.sessions.values() if status is None or s.status == status]
        chunk = rows[(page - 1) * size : page * size]
        return self.ok({"count": len(rows), "result": [s.data() for s in chunk]})

    def list_avatars(self, request: Request, body: Any) -> Answer:
        refusal = self.authorize(request)
        if refusal is not None:
            return refusal
        names = self.knobs.avatars or ("dvp_Tristan_cloth2_1080P",)
        result = [
            {
                "avatar_id": name,
                "name": name,
                "url": f"https://fake-akool.invalid/avatars/{name}.mp4",
                "available": True,
            }
            for name in names
        ]
        return self.ok({"count": len(result), "result": result})

    # --- data stream -----------------------------------------------------------------
    def post_datastream(self, session_id: str, raw: bytes) -> tuple[int, JSON]:
        """Check one message the browser would send on the session's data stream."""
        with self.lock:
            self._expire()
            session = self.sessions.get(session_id)
            if session is None:
                return 404, {"accepted": False, "error": "unknown session"}
            now = self.clock()
            if not session.is_open or session.status != 3:
                kind = "session_not_open" if not session.is_open else "session_not_ready"
                found = [
                    {
                        "session_id": session_id,
                        "kind": kind,
                        "bytes": len(raw),
                        "at": now,
                        "detail": f"status {session.status}",
                    }
                ]
                session.datastream.violations.extend(found)
            else:
                found = session.datastream.check(raw, now=now, session_id=session_id)
            self.violations.extend(found)
            rejected = [v for v in found if v["kind"] != "over_chunk_budget"]
            status = 200
            if rejected:
                status = REJECTING.get(str(rejected[0]["kind"]), 400)
            return status, {"accepted": not rejected, "violations": found}


def datastream_routes(fake: AkoolFake) -> list[Route]:
    """``/_fake/datastream/{session_id}`` and ``/_fake/violations``."""

    async def post_message(request: Request) -> Response:
        status, body = fake.post_datastream(request.path_params["session_id"], await request.body())
        return JSONResponse(body, status_code=status)

    async def get_messages(request: Request) -> Response:
        try:
            return JSONResponse(fake.datastream(request.path_params["session_id"]))
        except KeyError:
            return JSONResponse({"error": "unknown session"}, status_code=404)

    async def get_violations(request: Request) -> Response:
        return JSONResponse(fake.all_violations(request.query_params.get("session_id")))

    return [
        Route("/_fake/datastream/{session_id}", post_message, methods=["POST"]),
        Route("/_fake/datastream/{session_id}", get_messages, methods=["GET"]),
        Route("/_fake/violations", get_violations, methods=["GET"]),
    ]


def create_app(*, clock: Any = None, **knobs: Any) -> Starlette:
    """The fake's ASGI app; ``knobs`` are AkoolKnobs fields; ``app.state.fake`` is its state."""
    fake = AkoolFake(AkoolKnobs(), clock=clock)
    fake.configure(**knobs)
    fake.remember_initial_knobs()
    base = "/api/open/v4/liveAvatar"
    endpoints = {
        "/api/open/v3/getToken": (fake.get_token, "POST"),
        f"{base}/session/create": (fake.create, "POST"),
        f"{base}/session/detail": (fake.detail, "GET"),
        f"{base}/session/close": (fake.close, "POST"),
        f"{base}/session/list": (fake.list_sessions, "GET"),
        f"{base}/avatar/list": (fake.list_avatars, "GET"),
    }
    routes = [
        Route(path, api_endpoint(fake, handler), methods=[method])
        for path, (handler, method) in endpoints.items()
    ]
    return build_app(fake, [*routes, *datastream_routes(fake)])


AkoolServer = RunningFake[AkoolFake]


@contextmanager
def serve_akool(*, port: int | None = None, **knobs: Any) -> Iterator[AkoolServer]:
    """The fake on loopback for the duration of the block; ``knobs`` as in :func:`create_app`."""
    with running(create_app(**knobs), port=port) as server:
        yield server


if __name__ == "__main__":
    main(
        None,
        name="akool",
        description="Fake Akool Live Avatar API on loopback (knobs: POST /_fake/config; "
        "data-stream checks: POST /_fake/datastream/{session_id}).",
        create_app=create_app,
        knobs=AkoolKnobs(),
        actions=["advance_clock_s", "kill_sessions", "expire_tokens"],
    )
