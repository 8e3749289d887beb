"""One LiveAvatar session as the fake holds it: credits, idle timeout, the LITE socket's rules.

The rules (shared/reference/provider-apis.md §1): FULL costs 2 credits a minute and LITE 1,
each started minute, the first escrowed at start; credit running out ends the session with
``NO_CREDITS``; 5 minutes without activity end it with ``IDLE_TIMEOUT``; sandbox sessions are
free and last about a minute. On the LITE socket, messages before ``connected`` are dropped,
a message over 1 MB is refused, one ``event_id`` is one utterance; audio plays in real time
(times ``playback_rate``) from its first chunk, so an interrupt can land mid-utterance.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
from typing import Any

JSON = dict[str, Any]
CREDITS_PER_MINUTE = {"FULL": 2, "LITE": 1}
BYTES_PER_SECOND = 24000 * 2
MAX_MESSAGE_BYTES = 1_000_000
SANDBOX_SESSION_S = 60.0


@dataclasses.dataclass
class Utterance:
    """One ``event_id`` on the LITE socket (or one ``speak_text`` in FULL mode)."""

    event_id: str
    started_at: float
    chunk_bytes: list[int] = dataclasses.field(default_factory=list)
    text: str | None = None
    seconds: float = 0.0
    ended: bool = False  # speak_end received
    finished: bool = False  # played to the end (speak_ended sent)
    interrupted: bool = False

    def to_json(self) -> JSON:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class FakeLiveSession:
    """A session at the fake, on the fake clock."""

    session_id: str
    session_token: str
    ws_token: str
    mode: str
    avatar_id: str
    is_sandbox: bool
    request: JSON
    created_iso: str
    created_at: float
    max_duration_s: float
    silent: bool = False
    started_at: float | None = None
    last_activity: float = 0.0
    ended_at: float | None = None
    ended_iso: str | None = None
    end_reason: str | None = None
    minutes_charged: int = 0
    socket_connected: bool = False
    #: What the client's handshake offered in ``Sec-WebSocket-Extensions`` (None: nothing).
    socket_extensions: str | None = None
    dropped_before_connected: int = 0
    keep_alives: int = 0
    utterances: dict[str, Utterance] = dataclasses.field(default_factory=dict)
    violations: list[JSON] = dataclasses.field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def credits_consumed(self) -> int:
        return 0 if self.is_sandbox else self.minutes_charged * CREDITS_PER_MINUTE[self.mode]

    def end(self, now: float, reason: str, iso: str) -> None:
        if self.is_open:
            self.ended_at, self.end_reason, self.ended_iso = now, reason, iso

    def listing(self, now: float) -> JSON:
        """The session as ``GET /v1/sessions`` shows it."""
        end = self.ended_at if self.ended_at is not None else now
        return {
            "id": self.session_id,
            "created_at": self.created_iso,
            "updated_at": self.ended_iso or self.created_iso,
            "duration": round(end - self.started_at, 3) if self.started_at is not None else 0,
            "source": "API",
            "mode": self.mode,
            "is_sandbox": self.is_sandbox,
            "credits_consumed": self.credits_consumed,
            "end_at": self.ended_iso,
            "end_reason": self.end_reason,
        }

    def to_json(self, now: float) -> JSON:
        return {
            **self.listing(now),
            "session_id": self.session_id,
            "avatar_id": self.avatar_id,
            "request": self.request,
            "started": self.started_at is not None,
            "socket_connected": self.socket_connected,
            "socket_extensions": self.socket_extensions,
            "dropped_before_connected": self.dropped_before_connected,
            "keep_alives": self.keep_alives,
            "utterances": [u.to_json() for u in self.utterances.values()],
            "violations": list(self.violations),
        }

    # --- time ------------------------------------------------------------------------
    def tick(self, now: float, *, credits: list[float], idle_timeout_s: float, iso: str) -> None:
        """Charge started minutes, end on no credit, idle time or the maximum length."""
        if not self.is_open or self.started_at is None:
            return
        elapsed = now - self.started_at
        limit = SANDBOX_SESSION_S if self.is_sandbox else self.max_duration_s
        if elapsed >= limit:
            self.end(self.started_at + limit, "MAX_DURATION_REACHED", iso)
            return
        if now - self.last_activity >= idle_timeout_s:
            self.end(self.last_activity + idle_timeout_s, "IDLE_TIMEOUT", iso)
            return
        if self.is_sandbox:
            return
        due = max(1, math.ceil(elapsed / 60.0))
        price = CREDITS_PER_MINUTE[self.mode]
        while self.minutes_charged < due:
            if credits[0] < price:
                self.end(now, "NO_CREDITS", iso)
                return
            credits[0] -= price
            self.minutes_charged += 1

    def playback_events(self, now: float, rate: float) -> list[JSON]:
        """``agent.speak_ended`` for utterances whose audio has played out by ``now``."""
        events: list[JSON] = []
        for utterance in self.utterances.values():
            if utterance.finished or utterance.interrupted or not utterance.ended:
                continue
            if rate <= 0 or now >= utterance.started_at + utterance.seconds / rate:
                utterance.finished = True
                events.append({"type": "agent.speak_ended", "event_id": utterance.event_id})
        return events

    # --- the LITE socket -------------------------------------------------------------
    def violation(self, kind: str, detail: str, now: float) -> None:
        self.violations.append({"kind": kind, "detail": detail, "at": now})

    def on_socket_message(self, raw: str, now: float, *, connected: bool) -> list[JSON]:
        """Handle one message from our client; returns the events to send back."""
        if not connected:
            self.dropped_before_connected += 1
            return []
        if len(raw.encode()) > MAX_MESSAGE_BYTES:
            self.violation("message_too_large", f"{len(raw.encode())} bytes", now)
            return [{"type": "error", "message": "message over 1 MB"}]
        try:
            message = json.loads(raw)
        except ValueError:
            self.violation("not_json", raw[:80], now)
            return []
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "agent.speak":
            return self._speak(message, now)
        if kind == "agent.speak_end":
            utterance = self.utterances.get(str(message.get("event_id")))
            if utterance is None:
                self.violation("unknown_event_id", str(message.get("event_id")), now)
            else:
                utterance.ended = True
            self.last_activity = now
            return []
        if kind == "agent.interrupt":
            self.last_activity = now
            out: list[JSON] = []
            for utterance in self.utterances.values():
                if not utterance.finished and not utterance.interrupted:
                    utterance.interrupted = True
                    out.append({"type": "agent.speak_interrupted", "event_id": utterance.event_id})
            return out
        if kind == "session.keep_alive":
            self.keep_alives += 1
            self.last_activity = now
            return []
        self.violation("unknown_type", f"LITE accepts no {kind!r} message", now)
        return []

    def _speak(self, message: JSON, now: float) -> list[JSON]:
        event_id = message.get("event_id")
        audio = message.get("audio")
        if not isinstance(event_id, str) or not event_id or not isinstance(audio, str):
            self.violation("bad_speak", "agent.speak needs event_id and audio", now)
            return []
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            self.violation("bad_audio", "audio is not base64", now)
            return []
        if len(pcm) % 2:
            self.violation("bad_audio", "PCM16 audio has an even number of bytes", now)
            return []
        self.last_activity = now
        utterance = self.utterances.get(event_id)
        out: list[JSON] = []
        if utterance is None:
            utterance = self.utterances[event_id] = Utterance(event_id=event_id, started_at=now)
            out.append({"type": "agent.speak_started", "event_id": event_id})
        elif utterance.ended or utterance.interrupted:
            self.violation("speak_after_end", f"{event_id} was already ended", now)
            return []
        utterance.chunk_bytes.append(len(pcm))
        utterance.seconds += len(pcm) / BYTES_PER_SECOND
        return out

    # --- the FULL data channel (stand-in) ------------------------------------------------
    def on_data_packet(self, raw: bytes, now: float, ms_per_char: float) -> tuple[bool, list[JSON]]:
        """One ``agent-control`` packet; returns whether it was valid and the responses."""
        try:
            packet = json.loads(raw)
        except ValueError:
            self.violation("not_json", raw[:80].decode(errors="replace"), now)
            return False, []
        if not isinstance(packet, dict) or not isinstance(packet.get("event_id"), str):
            self.violation("bad_packet", "a packet needs event_type and event_id", now)
            return False, []
        kind, event_id = packet.get("event_type"), packet["event_id"]
        self.last_activity = now
        if kind == "avatar.speak_text":
            text = packet.get("text")
            if not isinstance(text, str) or not text:
                self.violation("bad_packet", "speak_text needs text", now)
                return False, []
            if self.silent:
                return True, []
            utterance = Utterance(event_id=event_id, started_at=now, text=text, ended=True)
            utterance.seconds = len(text) * ms_per_char / 1000
            self.utterances[event_id] = utterance
            return True, [
                {"event_type": "avatar.speak_started", "event_id": event_id},
                {
                    "event_type": "avatar.speak_ended",
                    "event_id": event_id,
                    "duration_ms": round(utterance.seconds * 1000),
                },
            ]
        if kind == "avatar.interrupt":
            for utterance in self.utterances.values():
                if not utterance.interrupted and now < utterance.started_at + utterance.seconds:
                    utterance.interrupted = True
            return True, []
        if kind in ("avatar.speak_response", "avatar.start_listening", "avatar.stop_listening"):
            return True, []
        self.violation("unknown_event_type", str(kind), now)
        return False, []
