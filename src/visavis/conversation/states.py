"""The conversation's state machine: one transition table, every change recorded.

Phases: idle → connecting → ready → listening ⇄ thinking ⇄ speaking, plus error and
disconnected. ``degraded`` (the avatar failed, the conversation goes on audio-only) is an
overlay flag, not a phase: an audio-only conversation still listens, thinks and speaks, and
as a phase it would either hide which of those is happening or double every phase. Entering
or leaving it is recorded like any transition (same phase before and after, the flag flips).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from visavis.errors import ConflictError


class ConversationState(StrEnum):
    """The phase of a live conversation, as the client sees it."""

    IDLE = "idle"
    CONNECTING = "connecting"
    READY = "ready"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    ERROR = "error"
    DISCONNECTED = "disconnected"


S = ConversationState

#: Legal phase changes. ready → thinking is an agent that greets first; speaking →
#: thinking is the audio running out while the agent still writes, or a new user
#: message replacing the reply; error → listening is a turn that failed but the
#: conversation goes on; disconnected → connecting is a client coming back.
TRANSITIONS: Mapping[ConversationState, frozenset[ConversationState]] = {
    S.IDLE: frozenset({S.CONNECTING, S.ERROR, S.DISCONNECTED}),
    S.CONNECTING: frozenset({S.READY, S.ERROR, S.DISCONNECTED}),
    S.READY: frozenset({S.LISTENING, S.THINKING, S.ERROR, S.DISCONNECTED}),
    S.LISTENING: frozenset({S.THINKING, S.ERROR, S.DISCONNECTED}),
    S.THINKING: frozenset({S.SPEAKING, S.LISTENING, S.ERROR, S.DISCONNECTED}),
    S.SPEAKING: frozenset({S.LISTENING, S.THINKING, S.ERROR, S.DISCONNECTED}),
    S.ERROR: frozenset({S.LISTENING, S.CONNECTING, S.DISCONNECTED}),
    S.DISCONNECTED: frozenset({S.CONNECTING}),
}
#: Phases in which the avatar can fail (or come back) while the conversation goes on.
DEGRADABLE: frozenset[ConversationState] = frozenset(
    {S.CONNECTING, S.READY, S.LISTENING, S.THINKING, S.SPEAKING}
)


@dataclass(frozen=True, slots=True)
class StateChange:
    """One recorded transition (or a refused one, with ``rejected``)."""

    from_state: ConversationState
    to_state: ConversationState
    #: The overlay flag before and after the change.
    was_degraded: bool
    degraded: bool
    reason: str
    monotonic_s: float
    at: datetime
    rejected: bool = False

    def to_event(self) -> dict[str, Any]:
        """A JSON-ready form, for the event store and the client's ``state`` message."""
        return {
            "from": self.from_state.value,
            "to": self.to_state.value,
            "degraded": self.degraded,
            "was_degraded": self.was_degraded,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "monotonic_s": self.monotonic_s,
            "rejected": self.rejected,
        }


class InvalidStateTransition(ConflictError):
    """A transition the table does not allow; ``change`` is the refused record."""

    code = "invalid_state_transition"

    def __init__(self, message: str, *, change: StateChange) -> None:
        super().__init__(message)
        self.change = change


StateListener = Callable[[StateChange], Awaitable[None]]


class ConversationStateMachine:
    """Holds the phase and the degraded flag; every change reaches the listeners in order.

    Changes are serialized: a change and its delivery to every listener finish before the
    next change starts, so listeners see them in order. Listeners should be quick (queue a
    message, store an event); an exception from one propagates to the caller, after the
    state has changed. Refused changes are recorded and delivered too (``rejected``).
    """

    def __init__(
        self,
        *,
        initial: ConversationState = S.IDLE,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] | None = None,
        history_limit: int = 1000,
    ) -> None:
        self._state = initial
        self._degraded = False
        self._clock = clock
        self._wall_clock = wall_clock if wall_clock is not None else _utc_now
        self._history: deque[StateChange] = deque(maxlen=history_limit)
        self._listeners: list[StateListener] = []
        self._lock = asyncio.Lock()

    @property
    def state(self) -> ConversationState:
        return self._state

    @property
    def degraded(self) -> bool:
        return self._degraded

    @property
    def history(self) -> list[StateChange]:
        """Recorded changes, oldest first (the latest ``history_limit``)."""
        return list(self._history)

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        self._listeners.remove(listener)

    def can(self, to: ConversationState) -> bool:
        """Whether ``transition(to)`` would be accepted now."""
        return to == self._state or to in TRANSITIONS[self._state]

    async def transition(self, to: ConversationState, *, reason: str) -> StateChange | None:
        """Move to phase ``to``; None if already there; raises ``InvalidStateTransition``."""
        async with self._lock:
            if to == self._state:
                return None
            change = self._change(to, self._degraded, reason)
            if to not in TRANSITIONS[self._state]:
                await self._reject(change, f"cannot go from {self._state} to {to}")
            self._state = to
            await self._deliver(change)
            return change

    async def set_degraded(self, degraded: bool, *, reason: str) -> StateChange | None:
        """Raise or clear the degraded flag; None if unchanged; allowed in ``DEGRADABLE``."""
        async with self._lock:
            if degraded == self._degraded:
                return None
            change = self._change(self._state, degraded, reason)
            if self._state not in DEGRADABLE:
                verb = "degrade" if degraded else "leave degraded mode"
                await self._reject(change, f"cannot {verb} while {self._state}")
            self._degraded = degraded
            await self._deliver(change)
            return change

    def _change(self, to: ConversationState, degraded: bool, reason: str) -> StateChange:
        return StateChange(
            from_state=self._state,
            to_state=to,
            was_degraded=self._degraded,
            degraded=degraded,
            reason=reason,
            monotonic_s=self._clock(),
            at=self._wall_clock(),
        )

    async def _reject(self, change: StateChange, message: str) -> None:
        refused = dataclasses.replace(change, rejected=True)
        await self._deliver(refused)
        raise InvalidStateTransition(f"{message} ({change.reason})", change=refused)

    async def _deliver(self, change: StateChange) -> None:
        self._history.append(change)
        for listener in list(self._listeners):
            await listener(change)


def _utc_now() -> datetime:
    return datetime.now(UTC)
