"""The turn prepared on the person's words while they pause.

When the person pauses, the voice input hands over what they said so far. The session starts
the agent's answer on it at once — the agent writes, the voice synthesizes — but nothing of it
reaches the client: its messages are held and its speech waits at the output. If the turn then
ends at that pause with the same words, the prepared turn is *confirmed* and goes on as any
turn (its held messages sent, its speech delivered); otherwise it is discarded unheard. Agents
are stateless across turns, so a discarded answer leaves nothing behind but the work it cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from visavis.conversation import protocol
from visavis.conversation.journal import ConversationJournal
from visavis.conversation.journal import ConversationState as S


class TurnTimes(Protocol):
    """The part of a turn's record a confirmation restarts."""

    turn_id: int
    trigger: str
    started_ms: int
    first_delta_ms: int | None
    speech_end_ms: int | None


@dataclass
class PreparedTurn:
    """A turn started on ``text`` (with ``history`` messages before it), not confirmed yet."""

    text: str
    history: int
    record: TurnTimes
    task: asyncio.Task[None] = field(init=False)
    #: Resolved when it is confirmed, cancelled when it is discarded.
    confirmed: asyncio.Future[None] = field(init=False)
    #: Messages for the client, sent when it is confirmed (then ``None``).
    held: list[protocol.Message] | None = field(default_factory=list)

    def start(self, turn: Coroutine[Any, Any, None], *, name: str) -> PreparedTurn:
        """Run ``turn`` (which holds its messages here, and waits in ``speaking``)."""
        self.confirmed = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(turn, name=name)
        return self

    def matches(self, text: str, history: int) -> bool:
        """Whether the person's turn is the one this was prepared for."""
        return self.text == text and self.history == history and not self.task.done()

    def hold(self, message: protocol.Message) -> bool:
        """Keep ``message`` for the confirmation; ``False`` once confirmed (send it now)."""
        if self.held is None:
            return False
        self.held.append(message)
        return True

    async def speaking(self, journal: ConversationJournal) -> None:
        """Before the first speech: wait to be confirmed (``CancelledError`` if discarded),
        then the state becomes speaking."""
        await self.confirmed
        await journal.machine.transition(S.SPEAKING, reason="first_audio")

    async def discarded(self) -> bool:
        """Wait until it is confirmed or discarded; whether it was discarded."""
        if not self.confirmed.done():
            await asyncio.wait({self.confirmed})
        return self.confirmed.cancelled()

    async def discard(self) -> int:
        """Stop it unheard (idempotent); returns its turn number, free again."""
        self.confirmed.cancel()
        if not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task})
        return self.record.turn_id

    async def confirm(
        self, journal: ConversationJournal, now_ms: int, *, speech_end_ms: int | None = None
    ) -> asyncio.Task[None]:
        """It is the person's turn, from ``now_ms`` (their speech ended at ``speech_end_ms``,
        when spoken): send what was held and let its speech through; returns the turn's task."""
        record = self.record
        record.started_ms = now_ms
        record.speech_end_ms = speech_end_ms
        if record.first_delta_ms is not None:
            record.first_delta_ms = 0  # the answer was already under way
        await journal.machine.transition(S.THINKING, reason=record.trigger)
        held, self.held = self.held or [], None
        for message in held:
            journal.send(message)
        if not self.confirmed.done():
            self.confirmed.set_result(None)
        return self.task
