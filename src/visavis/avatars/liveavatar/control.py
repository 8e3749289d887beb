"""FULL-mode control of a LiveAvatar session: the data packets the browser publishes for us.

FULL mode has no REST speak call: commands are reliable JSON data packets on the LiveKit topic
``agent-control`` and the avatar answers on ``agent-response``. The browser page is already in
the room, so it publishes what the server hands it (the same relay as Akool's data stream)
rather than the server joining the room as a second participant with ``livekit_agent_token``:
no WebRTC stack on the server, no extra participant, and a page that is gone cannot watch the
avatar anyway. :func:`parse_response` reads what the page forwards back.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from visavis.avatars.base import FaceEvent

CONTROL_TOPIC = "agent-control"
RESPONSE_TOPIC = "agent-response"

Command = Literal[
    "avatar.speak_text",
    "avatar.speak_response",
    "avatar.interrupt",
    "avatar.start_listening",
    "avatar.stop_listening",
]
_RESPONSE_EVENTS = {
    "avatar.speak_started": "speak_started",
    "avatar.speak_ended": "speak_ended",
    "session.stopped": "closed",
}


def command(event_type: Command, *, event_id: str | None = None, **fields: Any) -> str:
    """One packet for ``agent-control``, compact JSON (the page publishes it unchanged)."""
    packet: dict[str, Any] = {"event_type": event_type, "event_id": event_id or str(uuid.uuid4())}
    packet.update(fields)
    return json.dumps(packet, ensure_ascii=False, separators=(",", ":"))


def speak_text(text: str, *, event_id: str | None = None) -> str:
    """Say ``text`` verbatim with LiveAvatar's voice."""
    return command("avatar.speak_text", event_id=event_id, text=text)


def interrupt() -> str:
    """Stop speaking now."""
    return command("avatar.interrupt")


def parse_response(raw: str | bytes) -> FaceEvent | None:
    """A packet the page forwards from ``agent-response`` as a face event (None if other)."""
    try:
        packet = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(packet, dict):
        return None
    kind = _RESPONSE_EVENTS.get(str(packet.get("event_type")))
    if kind is None:
        return None
    event_id = packet.get("event_id")
    reason = packet.get("end_reason")
    return FaceEvent(
        kind,
        event_id if isinstance(event_id, str) else None,
        time.monotonic(),
        reason if isinstance(reason, str) else None,
    )
