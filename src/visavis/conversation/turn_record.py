"""A turn while it runs: why it started, when, and the agent's reply so far."""

from __future__ import annotations

from dataclasses import dataclass

from visavis.conversation.prepared import PreparedTurn


@dataclass
class TurnRecord:
    """What a turn is: why it started, when, and the agent's reply so far."""

    turn_id: int
    trigger: str
    started_ms: int
    reply: str = ""
    first_delta_ms: int | None = None
    prepared: PreparedTurn | None = None  # started on the person's words at a pause
    #: Where the person's speech ended (conversation clock) when they spoke the turn.
    speech_end_ms: int | None = None
