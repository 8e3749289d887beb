"""A loopback fake of Tavus CVI: PALs, echo-mode conversations, listing, ending, faces.

Contract: shared/reference/provider-apis.md §4. ``x-api-key``; a conversation needs ``pal_id``
(``persona_id`` is accepted as the deprecated alias, as ``replica_id`` is for ``face_id``);
``properties.max_call_duration`` ≤ 3600, after which the conversation ends. Ending twice is a
400 ("already ended"), an unknown id a 404. Faces are at ``/v2/faces`` (and the old
``/v2/replicas``; ``faces_renamed=false`` makes the new path a 404).

The room's app messages have a stand-in: ``POST /_fake/appmessage/{conversation_id}`` takes one
message as the browser would send it into the Daily room; ``conversation.echo`` is only obeyed
verbatim by an echo-mode PAL (otherwise the fake records a violation, as the face would
answer through its own LLM).

Run standalone: ``python -m tests.fakes.tavus --port 8794``.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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

ECHO_PAL = "p-echo-fake"
DEFAULT_FACES = (("r79e1c033f", "Anna"), ("rb17cf590e", "Ben"))


@dataclasses.dataclass
class TavusKnobs(FaultKnobs):
    """Knobs of the Tavus fake (plus the fault knobs)."""

    api_key: str = "test-tavus-key"
    faces_renamed: bool = True


@dataclasses.dataclass
class FakeConversation:
    conversation_id: str
    pal_id: str
    echo: bool
    face_id: str | None
    request: JSON
    created_at: float
    created_iso: str
    max_call_s: float
    ended_at: float | None = None
    end_reason: str | None = None
    end_requests: int = 0
    echoes: list[str] = dataclasses.field(default_factory=list)
    interrupts: int = 0
    violations: list[JSON] = dataclasses.field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    def data(self) -> JSON:
        return {
            "conversation_id": self.conversation_id,
            "conversation_name": f"conversation {self.conversation_id}",
            "conversation_url": f"https://tavus.daily.co/{self.conversation_id}",
            "status": "active" if self.is_open else "ended",
            "created_at": self.created_iso,
        }

    def to_json(self) -> JSON:
        return {
            **self.data(),
            "pal_id": self.pal_id,
            "echo": self.echo,
            "face_id": self.face_id,
            "request": self.request,
            "end_reason": self.end_reason,
            "end_requests": self.end_requests,
            "echoes": list(self.echoes),
            "interrupts": self.interrupts,
            "violations": list(self.violations),
        }


class TavusFake(ProviderFake[TavusKnobs]):
    """The state of the Tavus fake."""

    provider = "tavus"

    def __init__(self, knobs: TavusKnobs, **kwargs: Any) -> None:
        super().__init__(knobs, **kwargs)
        self.conversations: dict[str, FakeConversation] = {}
        self.pals: dict[str, str] = {}

    def actions(self) -> dict[str, Any]:
        return {**super().actions(), "kill_sessions": self.kill_sessions}

    def error_body(self, status: int, message: str) -> JSON:
        return {"message": message}

    def clear_state(self) -> None:
        self.conversations.clear()
        self.pals = {ECHO_PAL: "echo"}

    def tick(self) -> None:
        now = self.clock()
        for conversation in self.conversations.values():
            if conversation.is_open and now - conversation.created_at >= conversation.max_call_s:
                conversation.ended_at, conversation.end_reason = now, "max_call_duration"

    def kill_sessions(self, ids: list[str] | str = "all") -> int:
        with self.lock:
            chosen = list(self.conversations) if ids == "all" else list(ids)
            count = 0
            for key in chosen:
                conversation = self.conversations.get(key)
                if conversation is not None and conversation.is_open:
                    conversation.ended_at, conversation.end_reason = self.clock(), "killed"
                    count += 1
            return count

    def open_sessions(self) -> list[JSON]:
        with self.lock:
            self.tick()
            return [c.to_json() for c in self.conversations.values() if c.is_open]

    def all_sessions(self) -> list[JSON]:
        with self.lock:
            self.tick()
            return [c.to_json() for c in self.conversations.values()]

    def _key(self, request: Request) -> Answer | None:
        if request.headers.get("x-api-key") != self.knobs.api_key:
            return Answer({"message": "Invalid access token"}, 401)
        return None

    def create_pal(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        if not isinstance(body, dict) or not body.get("pal_name"):
            return Answer({"message": "pal_name is required"}, 400)
        pal_id = f"p{uuid.uuid4().hex[:10]}"
        self.pals[pal_id] = str(body.get("pipeline_mode", "full"))
        return Answer({"pal_id": pal_id, "pal_name": body["pal_name"]})

    def create(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        if not isinstance(body, dict):
            return Answer({"message": "a JSON object is required"}, 400)
        pal_id = body.get("pal_id") or body.get("persona_id")
        if not isinstance(pal_id, str):
            return Answer({"message": "pal_id is required"}, 400)
        if pal_id not in self.pals:
            return Answer({"message": f"PAL {pal_id} not found"}, 404)
        properties = body.get("properties") or {}
        limit = properties.get("max_call_duration", 3600)
        if not isinstance(limit, int) or not 1 <= limit <= 3600:
            return Answer({"message": "max_call_duration must be within 1–3600"}, 400)
        face = body.get("face_id") or body.get("replica_id")
        if face is not None and face not in {f for f, _ in DEFAULT_FACES}:
            return Answer({"message": f"face {face} not found"}, 404)
        conversation = FakeConversation(
            conversation_id=f"c{uuid.uuid4().hex[:12]}",
            pal_id=pal_id,
            echo=self.pals[pal_id] == "echo",
            face_id=face,
            request=body,
            created_at=self.clock(),
            created_iso=(datetime.now(UTC) + timedelta(seconds=self.clock.offset))
            .isoformat()
            .replace("+00:00", "Z"),
            max_call_s=float(limit),
        )
        self.conversations[conversation.conversation_id] = conversation
        return Answer(conversation.data())

    def one(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        self.tick()
        conversation = self.conversations.get(request.path_params["conversation_id"])
        if conversation is None:
            return Answer({"message": "conversation not found"}, 404)
        return Answer(conversation.data())

    def end(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        self.tick()
        conversation = self.conversations.get(request.path_params["conversation_id"])
        if conversation is None:
            return Answer({"message": "conversation not found"}, 404)
        conversation.end_requests += 1
        if not conversation.is_open:
            return Answer({"message": "conversation has already ended"}, 400)
        conversation.ended_at, conversation.end_reason = self.clock(), "ended"
        return Answer({})

    def listing(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        self.tick()
        query = request.query_params
        try:
            limit, page = int(query.get("limit", "10")), int(query.get("page", "1"))
        except ValueError:
            return Answer({"message": "limit and page are numbers"}, 400)
        status = query.get("status")
        rows = [
            c for c in self.conversations.values() if status is None or c.data()["status"] == status
        ]
        chunk = rows[(page - 1) * limit : page * limit]
        return Answer({"data": [c.data() for c in chunk], "total_count": len(rows)})

    def faces(self, request: Request, body: Any) -> Answer:
        refusal = self._key(request)
        if refusal is not None:
            return refusal
        renamed = request.url.path.endswith("/faces")
        if renamed and not self.knobs.faces_renamed:
            return Answer({"message": "not found"}, 404)
        key, name = ("face_id", "face_name") if renamed else ("replica_id", "replica_name")
        data = [
            {
                key: face,
                name: label,
                "thumbnail_video_url": f"https://fake-tavus.invalid/{face}.mp4",
                "status": "completed",
            }
            for face, label in DEFAULT_FACES
        ]
        return Answer({"data": data, "total_count": len(data)})

    def app_message(self, conversation_id: str, raw: bytes) -> tuple[int, JSON]:
        """One app message the browser sends into the room."""
        with self.lock:
            self.tick()
            conversation = self.conversations.get(conversation_id)
            if conversation is None or not conversation.is_open:
                return 409, {"accepted": False, "error": "no live conversation"}
            try:
                message = json.loads(raw)
            except ValueError:
                return 400, {"accepted": False, "error": "not JSON"}
            kind = message.get("event_type") if isinstance(message, dict) else None
            if (
                not isinstance(message, dict)
                or message.get("message_type") != "conversation"
                or message.get("conversation_id") != conversation_id
            ):
                return 400, {"accepted": False, "error": "wrong message_type or conversation_id"}
            if kind == "conversation.echo":
                props = message.get("properties") or {}
                if props.get("modality") != "text" or not isinstance(props.get("text"), str):
                    return 400, {"accepted": False, "error": "echo needs modality text and text"}
                if not conversation.echo:
                    conversation.violations.append({"kind": "not_echo_mode"})
                conversation.echoes.append(props["text"])
                return 200, {"accepted": True}
            if kind == "conversation.interrupt":
                conversation.interrupts += 1
                return 200, {"accepted": True}
            return 400, {"accepted": False, "error": f"unknown event_type {kind!r}"}


def create_app(*, clock: Any = None, **knobs: Any) -> Starlette:
    """The fake's ASGI app; ``knobs`` are TavusKnobs fields."""
    fake = TavusFake(TavusKnobs(), clock=clock)
    fake.configure(**knobs)
    fake.remember_initial_knobs()
    fake.clear_state()
    endpoints = [
        ("/v2/pals", fake.create_pal, "POST"),
        ("/v2/conversations", fake.create, "POST"),
        ("/v2/conversations", fake.listing, "GET"),
        ("/v2/conversations/{conversation_id}", fake.one, "GET"),
        ("/v2/conversations/{conversation_id}/end", fake.end, "POST"),
        ("/v2/faces", fake.faces, "GET"),
        ("/v2/replicas", fake.faces, "GET"),
    ]
    routes: list[Any] = [
        Route(path, api_endpoint(fake, handler), methods=[method])
        for path, handler, method in endpoints
    ]

    async def post_app_message(request: Request) -> Response:
        status, body = fake.app_message(
            request.path_params["conversation_id"], await request.body()
        )
        return JSONResponse(body, status_code=status)

    routes.append(Route("/_fake/appmessage/{conversation_id}", post_app_message, methods=["POST"]))
    return build_app(fake, routes)


TavusServer = RunningFake[TavusFake]


@contextmanager
def serve_tavus(*, port: int | None = None, **knobs: Any) -> Iterator[TavusServer]:
    """The fake on loopback for the duration of the block."""
    with running(create_app(**knobs), port=port) as server:
        yield server


if __name__ == "__main__":
    main(
        None,
        name="tavus",
        description="Fake Tavus CVI API on loopback (app messages: POST /_fake/appmessage/{id}).",
        create_app=create_app,
        knobs=TavusKnobs(),
        actions=["advance_clock_s", "kill_sessions"],
    )
