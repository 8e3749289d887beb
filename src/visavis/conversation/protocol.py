"""The conversation WebSocket's wire protocol, v1 (docs/protocol.md), in one place.

Every message the client may send is parsed and checked here into a typed value; every message
the server sends is built here; the binary audio frame's header is packed and unpacked here
(the microphone's frames, client → server, in ``mic_frames``).
Whatever does not pass is a ``ProtocolError`` with the code and sentence the client is sent.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from visavis.conversation.mic_frames import (
    MIC_FORMAT,
    MIC_HEADER_BYTES,
    MIC_MAX_FRAME_MS,
    MicFrame,
)
from visavis.conversation.protocol_error import ProtocolError as ProtocolError

PROTOCOL = 1
SAMPLE_RATES = (16000, 22050, 24000, 48000)
QUALITIES = ("auto", "high", "medium", "low")
#: The provider media's quality as the browser sees it (LiveKit's ConnectionQuality names).
MEDIA_QUALITIES = ("excellent", "good", "poor", "lost")
MAX_PROVIDER_EVENT = 4096
MAX_USER_TEXT = 4000
MAX_DEPTH = 16

# --- audio frames (server → client) -------------------------------------------------------

MAGIC = b"V1"
HEADER = struct.Struct(">2sHII")
HEADER_BYTES = HEADER.size
FRAME_MS = 100


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One binary frame: ~100 ms of PCM16 mono of one utterance."""

    utterance_id: int
    seq: int
    pcm: bytes

    def encode(self) -> bytes:
        return HEADER.pack(MAGIC, 0, self.utterance_id, self.seq) + self.pcm

    @classmethod
    def decode(cls, data: bytes) -> AudioFrame:
        if len(data) < HEADER_BYTES:
            raise ValueError("audio frame shorter than its header")
        magic, _reserved, utterance_id, seq = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise ValueError("not a Visavis v1 audio frame")
        return cls(utterance_id=utterance_id, seq=seq, pcm=data[HEADER_BYTES:])


def split_frames(
    utterance_id: int, pcm: npt.NDArray[np.int16], sample_rate: int, frame_ms: int = FRAME_MS
) -> Iterator[AudioFrame]:
    """Cut an utterance's PCM into frames of ``frame_ms`` (the last may be shorter)."""
    step = max(1, sample_rate * frame_ms // 1000)
    raw = pcm.astype("<i2", copy=False)
    for seq, start in enumerate(range(0, len(raw), step)):
        yield AudioFrame(utterance_id, seq, raw[start : start + step].tobytes())


# --- client → server ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """The first message: the client token and what the client wants."""

    token: str
    sample_rate: int = 24000
    avatar: bool = True
    quality: str = "auto"
    audio_in: bool = False
    """The client will stream its microphone as ``M1`` frames (``hello.audio_in``)."""


@dataclass(frozen=True, slots=True)
class UserText:
    """The person said or typed ``text``: a turn starts (and interrupts the agent)."""

    text: str


@dataclass(frozen=True, slots=True)
class Interrupt:
    """Stop the agent now."""


@dataclass(frozen=True, slots=True)
class Playback:
    """How far the client has played an utterance."""

    utterance_id: int
    position_ms: int
    ended: bool = False


@dataclass(frozen=True, slots=True)
class AvatarToggle:
    """Switch the avatar off (audio-only) or back on."""

    enabled: bool


@dataclass(frozen=True, slots=True)
class AvatarStatus:
    """The browser's view of the provider's media."""

    status: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A packet the browser relays unchanged from the provider's room (``agent-response``)."""

    data: str


@dataclass(frozen=True, slots=True)
class AvatarQuality:
    """The provider media's quality changed, as the browser sees it, and what it went by."""

    quality: str
    reason: str


@dataclass(frozen=True, slots=True)
class End:
    """End the conversation."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Heartbeat; answered by ``pong``."""


@dataclass(frozen=True, slots=True)
class AudioInEnd:
    """The microphone stopped (push-to-talk released): an utterance under way ends now."""


ClientMessage = (
    Hello
    | UserText
    | Interrupt
    | Playback
    | AvatarToggle
    | AvatarStatus
    | ProviderEvent
    | AvatarQuality
    | End
    | Ping
    | AudioInEnd
    | MicFrame
)


def _invalid(message: str) -> ProtocolError:
    return ProtocolError("invalid_message", message)


def _text(value: Any, *, field: str, kind: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{kind} needs a '{field}' string")
    if "\x00" in value:
        raise _invalid(f"{kind}: '{field}' must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(f"{kind}: '{field}' holds a lone surrogate (not valid Unicode)") from None
    return value


def _hello(body: Mapping[str, Any]) -> Hello:
    if body.get("protocol", PROTOCOL) != PROTOCOL:
        raise ProtocolError("protocol_unsupported", f"this server speaks protocol {PROTOCOL}")
    rate = body.get("sample_rate", 24000)
    if isinstance(rate, bool) or rate not in SAMPLE_RATES:
        raise ProtocolError("invalid_hello", f"sample_rate must be one of {SAMPLE_RATES}")
    quality = body.get("quality", "auto")
    if quality not in QUALITIES:
        raise ProtocolError("invalid_hello", f"quality must be one of {QUALITIES}")
    avatar = body.get("avatar", True)
    if not isinstance(avatar, bool):
        raise ProtocolError("invalid_hello", "avatar must be true or false")
    audio_in = body.get("audio_in")
    if audio_in is not None and audio_in != MIC_FORMAT:
        raise ProtocolError(
            "invalid_hello",
            'audio_in must be {"format": "pcm_s16le", "sample_rate": 16000} (or left out)',
        )
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise ProtocolError("unauthorized", "hello needs the conversation's client token")
    return Hello(
        token=token,
        sample_rate=int(rate),
        avatar=avatar,
        quality=str(quality),
        audio_in=audio_in is not None,
    )


def _user_text(body: Mapping[str, Any]) -> UserText:
    text = _text(body.get("text"), field="text", kind="user_text").strip()
    if not text:
        raise _invalid("user_text needs a non-empty 'text' string")
    if len(text) > MAX_USER_TEXT:
        raise ProtocolError("text_too_long", f"user_text is limited to {MAX_USER_TEXT} characters")
    return UserText(text)


def _playback(body: Mapping[str, Any]) -> Playback:
    utterance_id = body.get("utterance_id")
    position = body.get("position_ms")
    ended = body.get("ended", False)
    if (
        isinstance(utterance_id, bool)
        or not isinstance(utterance_id, int)
        or isinstance(position, bool)
        or not isinstance(position, int | float)
        or not isinstance(ended, bool)
    ):
        raise _invalid("playback needs utterance_id (int) and position_ms (a number)")
    if not math.isfinite(position) or position < 0:
        raise _invalid("playback position_ms must be a finite number ≥ 0")
    return Playback(utterance_id=utterance_id, position_ms=int(position), ended=ended)


def _avatar_toggle(body: Mapping[str, Any]) -> AvatarToggle:
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise _invalid("avatar_toggle needs 'enabled': true or false")
    return AvatarToggle(enabled)


def _avatar_status(body: Mapping[str, Any]) -> AvatarStatus:
    status = body.get("status")
    if status not in ("connected", "failed"):
        raise _invalid("avatar_status needs status 'connected' or 'failed'")
    reason = body.get("reason")
    if reason is not None:
        reason = _text(reason, field="reason", kind="avatar_status")[:200]
    return AvatarStatus(status=str(status), reason=reason)


def _provider_event(body: Mapping[str, Any]) -> ProviderEvent:
    data = _text(body.get("data"), field="data", kind="provider_event")
    if not data or len(data) > MAX_PROVIDER_EVENT:
        raise _invalid(f"provider_event 'data' is 1–{MAX_PROVIDER_EVENT} characters")
    return ProviderEvent(data)


def _avatar_quality(body: Mapping[str, Any]) -> AvatarQuality:
    quality, reason = body.get("quality"), body.get("reason")
    if quality not in MEDIA_QUALITIES:
        raise _invalid(f"avatar_quality needs 'quality', one of {MEDIA_QUALITIES}")
    if not isinstance(reason, str) or not reason.isascii() or not reason.isidentifier():
        raise _invalid("avatar_quality needs a 'reason' word (ASCII letters, digits, _)")
    return AvatarQuality(quality=str(quality), reason=reason[:40])


_PARSERS: dict[str, Callable[[Mapping[str, Any]], ClientMessage]] = {
    "hello": _hello,
    "user_text": _user_text,
    "interrupt": lambda _: Interrupt(),
    "playback": _playback,
    "avatar_toggle": _avatar_toggle,
    "avatar_status": _avatar_status,
    "provider_event": _provider_event,
    "avatar_quality": _avatar_quality,
    "end": lambda _: End(),
    "ping": lambda _: Ping(),
    "audio_in_end": lambda _: AudioInEnd(),
}
#: Every message type a client may send.
CLIENT_TYPES: tuple[str, ...] = tuple(_PARSERS)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def parse_message(text: str, *, max_bytes: int) -> ClientMessage:
    """One text frame from the client, checked; raises ``ProtocolError``."""
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ProtocolError("message_too_large", f"messages are limited to {max_bytes} bytes")
    try:
        body = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise ProtocolError("invalid_json", "the message is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise _invalid("a message is a JSON object with a 'type'")
    if _depth(body, MAX_DEPTH):
        raise _invalid(f"messages nest at most {MAX_DEPTH} levels")
    parser = _PARSERS.get(body["type"])
    if parser is None:
        kind = body["type"][:40]
        raise ProtocolError(
            "unknown_message", f"unknown message type {kind!r}: see docs/protocol.md"
        )
    return parser(body)


# --- server → client ----------------------------------------------------------------------

Message = dict[str, Any]


def ready(
    *,
    conversation_id: str,
    agent: str,
    sample_rate: int,
    avatar: Mapping[str, Any],
    state: str,
    transcript: Sequence[Mapping[str, Any]],
    resumed: bool,
    audio_in: Mapping[str, Any] | None = None,
) -> Message:
    audio = {"format": "pcm_s16le", "channels": 1, "sample_rate": sample_rate}
    return {
        "type": "ready",
        "protocol": PROTOCOL,
        "conversation_id": conversation_id,
        "agent": agent,
        "audio": audio | {"header_bytes": HEADER_BYTES},
        "avatar": dict(avatar),
        "state": state,
        "transcript": [dict(entry) for entry in transcript],
        "resumed": resumed,
        "audio_in": dict(audio_in) if audio_in is not None else {"accepted": False},
    }


def audio_in(
    *, accepted: bool, reason: str | None = None, end_silence_ms: int | None = None
) -> Message:
    """``ready.audio_in``: whether the server takes the microphone, its frame format, and the
    silence that ends a spoken turn."""
    if not accepted:
        return {"accepted": False, "reason": reason}
    return {
        "accepted": True,
        **MIC_FORMAT,
        "channels": 1,
        "header_bytes": MIC_HEADER_BYTES,
        "max_frame_ms": MIC_MAX_FRAME_MS,
        "end_silence_ms": end_silence_ms,
    }


def user_partial(*, text: str, start_ms: int | None) -> Message:
    """The person's words so far, while they speak (they may still change)."""
    return {"type": "user_partial", "text": text, "start_ms": start_ms}


def voice(*, event: str, message: str, at_ms: int) -> Message:
    """What the microphone's listener did: ``speech_started``, ``barge_in``,
    ``utterance_cut``, ``transcription_failed``, ``ignored_echo``, ``nothing_heard``."""
    return {"type": "voice", "event": event, "message": message, "at_ms": at_ms}


def speech_voice(*, voice: str, reason: str, message: str, at_ms: int) -> Message:
    """Which voice speaks from now on: ``cloned`` (the twin's own) or ``bundled`` (its cloned
    voice is down or slow: ``voice_unavailable``, ``voice_slow``; back: ``voice_restored``)."""
    return {
        "type": "speech_voice",
        "voice": voice,
        "reason": reason,
        "message": message,
        "at_ms": at_ms,
    }


def state(*, state: str, previous: str, degraded: bool, reason: str, at_ms: int) -> Message:
    return {
        "type": "state",
        "state": state,
        "previous": previous,
        "degraded": degraded,
        "reason": reason,
        "at_ms": at_ms,
    }


def agent_delta(*, turn_id: int, text: str) -> Message:
    return {"type": "agent_delta", "turn_id": turn_id, "text": text}


def sentence(*, turn_id: int, utterance_id: int, text: str) -> Message:
    return {"type": "sentence", "turn_id": turn_id, "utterance_id": utterance_id, "text": text}


def visemes(
    *, utterance_id: int, duration_ms: int, method: str, cues: Sequence[Mapping[str, Any]]
) -> Message:
    return {
        "type": "visemes",
        "utterance_id": utterance_id,
        "duration_ms": duration_ms,
        "method": method,
        "cues": list(cues),
    }


def utterance_end(*, utterance_id: int, duration_ms: int, frames: int) -> Message:
    return {
        "type": "utterance_end",
        "utterance_id": utterance_id,
        "duration_ms": duration_ms,
        "frames": frames,
    }


def turn_end(*, turn_id: int, interrupted: bool, reason: str) -> Message:
    return {"type": "turn_end", "turn_id": turn_id, "interrupted": interrupted, "reason": reason}


def transcript_entry(
    *,
    role: str,
    text: str,
    actual_start_ms: int | None,
    duration_ms: int | None,
    interrupted: bool,
) -> Message:
    """An entry as it appears in ``transcript`` messages and in ``ready.transcript``."""
    return {
        "role": role,
        "text": text,
        "actual_start_ms": actual_start_ms,
        "duration_ms": duration_ms,
        "interrupted": interrupted,
    }


def transcript(entry: Mapping[str, Any]) -> Message:
    return {"type": "transcript", "entry": dict(entry)}


def metrics(
    *,
    turn_id: int,
    first_delta_ms: int | None,
    first_audio_ms: int | None,
    synthesis_rtf: float | None,
) -> Message:
    return {
        "type": "metrics",
        "turn_id": turn_id,
        "first_delta_ms": first_delta_ms,
        "first_audio_ms": first_audio_ms,
        "synthesis_rtf": synthesis_rtf,
    }


def provider_message(*, provider: str | None, data: str) -> Message:
    return {"type": "provider_message", "provider": provider, "data": data}


def avatar(state: Mapping[str, Any]) -> Message:
    return {"type": "avatar", **state}


def storage(*, saved: bool, pending: int) -> Message:
    """Whether what is said is being saved (false while the database is away)."""
    return {"type": "storage", "saved": saved, "pending": pending}


def error(*, code: str, message: str) -> Message:
    return {"type": "error", "code": code, "message": message}


def end(*, reason: str) -> Message:
    return {"type": "end", "reason": reason}


def pong() -> Message:
    return {"type": "pong"}


#: Every message type the server sends (besides binary audio frames).
SERVER_TYPES: tuple[str, ...] = (
    "ready",
    "state",
    "agent_delta",
    "sentence",
    "visemes",
    "utterance_end",
    "turn_end",
    "transcript",
    "metrics",
    "provider_message",
    "avatar",
    "storage",
    "error",
    "end",
    "pong",
    "user_partial",
    "voice",
    "speech_voice",
)
