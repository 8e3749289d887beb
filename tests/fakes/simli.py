"""A loopback fake of Simli: session tokens, faces, and the session socket that takes our audio.

Contract: shared/reference/provider-apis.md §3. ``POST /compose/token`` (``x-simli-api-key``)
answers ``{"session_token"}``, or 400 ``{"session_token": "FAIL TOKEN", "detail"}`` for an
unknown face, 401 for a wrong key, 422 for a malformed body. The socket
``/compose/webrtc/livekit?session_token=`` sends the LiveKit credentials (JSON), then ``START``
after ``start_delay_s``; it takes binary PCM16 frames (16 kHz: an odd length is a violation,
so is audio before ``START``), ``SKIP`` (drops the buffer, answers ``STOP``) and ``DONE``
(plays the rest, then ``CLOSING done``). Audio plays in real time times ``playback_rate``:
``SPEAK`` when it starts, ``SILENT`` when the buffer runs dry. A session ends with its socket
(``USER_DISCONNECTED``), after ``maxIdleTime`` without audio, or at ``maxSessionLength``.

Run standalone: ``python -m tests.fakes.simli --port 8793``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

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

BYTES_PER_SECOND = 16000 * 2
DEFAULT_FACES = ("tmp9i8bbq7c", "5514e24d-6086-46a3-ace4-6a7264e5cb7c")


@dataclasses.dataclass
class SimliKnobs(FaultKnobs):
    """Knobs of the Simli fake (plus the fault knobs)."""

    api_key: str = "test-simli-key"
    faces: tuple[str, ...] = DEFAULT_FACES
    start_delay_s: float = 0.02
    playback_rate: float = 1.0  # 0: audio "plays" instantly


@dataclasses.dataclass
class FakeSimliSession:
    """One session at the fake, on the fake clock."""

    token: str
    face_id: str
    request: JSON
    created_at: float
    max_session_s: float
    max_idle_s: float
    socket_connected: bool = False
    started: bool = False
    last_audio_at: float = 0.0
    ended_at: float | None = None
    end_reason: str | None = None
    frames: list[int] = dataclasses.field(default_factory=list)
    buffered_s: float = 0.0
    speaking: bool = False
    skips: int = 0
    done: bool = False
    violations: list[JSON] = dataclasses.field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    def end(self, now: float, reason: str) -> None:
        if self.is_open:
            self.ended_at, self.end_reason = now, reason

    def to_json(self) -> JSON:
        return {
            "session_token": self.token,
            "face_id": self.face_id,
            "request": self.request,
            "socket_connected": self.socket_connected,
            "started": self.started,
            "end_reason": self.end_reason,
            "frames": list(self.frames),
            "audio_s": sum(self.frames) / BYTES_PER_SECOND,
            "skips": self.skips,
            "done": self.done,
            "violations": list(self.violations),
        }


class SimliFake(ProviderFake[SimliKnobs]):
    """The state of the Simli fake."""

    provider = "simli"

    def __init__(self, knobs: SimliKnobs, **kwargs: Any) -> None:
        super().__init__(knobs, **kwargs)
        self.sessions: dict[str, FakeSimliSession] = {}

    def error_body(self, status: int, message: str) -> JSON:
        return {"detail": message}

    def clear_state(self) -> None:
        self.sessions.clear()

    def tick(self) -> None:
        now = self.clock()
        for session in self.sessions.values():
            if not session.is_open:
                continue
            if now - session.created_at >= session.max_session_s:
                session.end(now, "MAX_SESSION_LENGTH")
            elif session.started and now - session.last_audio_at >= session.max_idle_s:
                session.end(now, "MAX_IDLE_TIME")

    def open_sessions(self) -> list[JSON]:
        with self.lock:
            self.tick()
            return [s.to_json() for s in self.sessions.values() if s.is_open]

    def all_sessions(self) -> list[JSON]:
        with self.lock:
            self.tick()
            return [s.to_json() for s in self.sessions.values()]

    def _key(self, request: Request) -> Answer | None:
        if request.headers.get("x-simli-api-key") != self.knobs.api_key:
            return Answer({"detail": "Invalid API key"}, 401)
        return None

    def token(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        if not isinstance(body, dict) or not isinstance(body.get("faceId"), str):
            return Answer({"detail": [{"loc": ["body", "faceId"], "msg": "field required"}]}, 422)
        if body["faceId"] not in self.knobs.faces:
            return Answer({"session_token": "FAIL TOKEN", "detail": "face not found"}, 400)
        if body.get("audioInputFormat", "pcm16") != "pcm16":
            return Answer({"detail": "audioInputFormat must be pcm16"}, 422)
        token = f"simli-{uuid.uuid4().hex}{uuid.uuid4().hex}"
        self.sessions[token] = FakeSimliSession(
            token=token,
            face_id=body["faceId"],
            request=body,
            created_at=self.clock(),
            max_session_s=float(body.get("maxSessionLength", 3600)),
            max_idle_s=float(body.get("maxIdleTime", 300)),
        )
        return Answer({"session_token": token})

    def faces(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        return Answer(
            [  # type: ignore[arg-type]
                {
                    "id": face,
                    "owner_id": "owner",
                    "simli_version": 2,
                    "created_at": "2026-01-01T00:00:00Z",
                    "updated_at": "2026-01-01T00:00:00Z",
                }
                for face in self.knobs.faces
            ]
        )

    def on_frame(self, session: FakeSimliSession, message: dict[str, Any]) -> list[str]:
        """One frame from our client; returns Simli's text answers."""
        now = self.clock()
        data, text = message.get("bytes"), message.get("text")
        if data is not None:
            if not session.started:
                session.violations.append({"kind": "audio_before_start", "bytes": len(data)})
            if len(data) % 2:
                session.violations.append({"kind": "odd_length", "bytes": len(data)})
            session.frames.append(len(data))
            session.last_audio_at = now
            session.buffered_s += len(data) / BYTES_PER_SECOND
            if not session.speaking and any(data):
                session.speaking = True
                return ["SPEAK"]
            return []
        if text == "SKIP":
            session.skips += 1
            session.buffered_s = 0.0
            was, session.speaking = session.speaking, False
            return ["STOP"] if was else []
        if text == "DONE":
            session.done = True
            return []
        session.violations.append({"kind": "unknown_text", "text": str(text)[:40]})
        return ["ERROR unknown message"]


async def session_socket(websocket: WebSocket) -> None:
    """The session's socket: LiveKit credentials, START, then our audio."""
    fake: SimliFake = websocket.app.state.fake
    with fake.lock:
        fake.tick()
        session = fake.sessions.get(websocket.query_params.get("session_token", ""))
    if session is None or not session.is_open or session.socket_connected:
        await websocket.close(code=4401)
        return
    await websocket.accept()
    lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with lock:
            await websocket.send_text(text)

    with fake.lock:
        session.socket_connected = True
    await websocket.send_json(
        {
            "livekit_url": "wss://fake-simli.livekit.invalid",
            "livekit_token": f"lk-{uuid.uuid4().hex}",
        }
    )

    async def playback() -> None:
        await asyncio.sleep(fake.knobs.start_delay_s)
        with fake.lock:
            session.started, session.last_audio_at = True, fake.clock()
        await send("START")
        step = 0.01
        while True:
            await asyncio.sleep(step)
            with fake.lock:
                fake.tick()
                rate = fake.knobs.playback_rate
                played = session.buffered_s if rate <= 0 else step * rate
                session.buffered_s = max(0.0, session.buffered_s - played)
                went_silent = session.speaking and session.buffered_s == 0
                if went_silent:
                    session.speaking = False
                closing = not session.is_open or (session.done and session.buffered_s == 0)
                reason = "done" if session.done else (session.end_reason or "closed")
            if went_silent:
                await send("SILENT")
            if closing:
                await send(f"CLOSING {reason}")
                with fake.lock:
                    session.end(fake.clock(), "DONE" if session.done else reason)
                await websocket.close()
                return

    player = asyncio.create_task(playback())
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            with fake.lock:
                answers = fake.on_frame(session, message)
            for answer in answers:
                await send(answer)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        player.cancel()
        await asyncio.gather(player, return_exceptions=True)
        with fake.lock:
            session.socket_connected = False
            session.end(fake.clock(), "USER_DISCONNECTED")


def create_app(*, clock: Any = None, **knobs: Any) -> Starlette:
    """The fake's ASGI app; ``knobs`` are SimliKnobs fields."""
    fake = SimliFake(SimliKnobs(), clock=clock)
    fake.configure(**knobs)
    fake.remember_initial_knobs()
    routes: list[Any] = [
        Route("/compose/token", api_endpoint(fake, fake.token), methods=["POST"]),
        Route("/faces", api_endpoint(fake, fake.faces), methods=["GET"]),
        WebSocketRoute("/compose/webrtc/livekit", session_socket),
    ]
    return build_app(fake, routes)


SimliServer = RunningFake[SimliFake]


@contextmanager
def serve_simli(*, port: int | None = None, **knobs: Any) -> Iterator[SimliServer]:
    """The fake on loopback for the duration of the block."""
    with running(create_app(**knobs), port=port) as server:
        yield server


if __name__ == "__main__":
    main(
        None,
        name="simli",
        description="Fake Simli API on loopback (compose/token, faces, the session socket).",
        create_app=create_app,
        knobs=SimliKnobs(),
        actions=["advance_clock_s"],
    )
