"""The conversation's journal: its state machine, and the ordered record of what happened.

The state machine has one transition table, and every change is announced to the client and
recorded. The recorder writes states, transcript entries and turn metrics in order, one task
per conversation, off the hot path: a database round trip never delays the first audio.

Phases: idle → connecting → ready → listening ⇄ thinking ⇄ speaking, plus error and
disconnected. ``degraded`` (the avatar failed, the conversation goes on audio-only) is an
overlay flag, not a phase: an audio-only conversation still listens, thinks and speaks, and
as a phase it would either hide which of those is happening or double every phase. Entering
or leaving it is recorded like any transition (same phase before and after, the flag flips).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.conversation import protocol
from visavis.conversation.outbox import Outbox, OutboxClosed
from visavis.conversation.turn_figures import TurnFigures
from visavis.db.base import utcnow
from visavis.db.models import ConversationTurn, TranscriptEntry
from visavis.db.outage import is_database_outage
from visavis.db.repositories.conversation_events import ConversationEventRepository
from visavis.db.repositories.conversations import ConversationRepository
from visavis.db.repositories.transcripts import TranscriptRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.errors import ConflictError
from visavis.ops.events import EventRecorder, record_event
from visavis.stored_text import storable
from visavis.timing import ConversationClock

logger = logging.getLogger(__name__)


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


# --- the record ---------------------------------------------------------------------------

Write = Callable[[AsyncSession], Awaitable[None]]
#: Run once a write has committed (never for a write that was dropped or refused).
Committed = Callable[[], None]


#: Writes kept while the database is away; beyond it the oldest are dropped (and counted).
MAX_PENDING_WRITES = 10_000
_FIRST_RETRY_S = 0.1
_MAX_RETRY_S = 5.0


class ConversationRecorder:
    """An ordered queue of database writes, each in its own transaction.

    While the database cannot be reached, writes wait in the queue (bounded) and are retried
    with backoff, in order, until it is back; ``on_outage`` hears when recording stalls and when
    it has caught up. A write the database refuses for what it holds is logged and skipped.
    A write may carry a ``then``, called once it has committed: what depends on the record
    being durable (showing a transcript line) waits for it.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        conversation_id: uuid.UUID,
        tenant_id: uuid.UUID,
        switch_role: bool,
        on_outage: Callable[[bool, int], None] | None = None,
        max_pending: int = MAX_PENDING_WRITES,
    ) -> None:
        self.sessions = sessions
        self.conversation_id = conversation_id
        self.tenant_id = tenant_id
        self.switch_role = switch_role
        self.on_outage = on_outage
        self.max_pending = max_pending
        self._queue: deque[tuple[Write, Committed | None]] = deque()
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self.dropped = 0
        self.stalled = False

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"recorder-{self.conversation_id}")

    def write(self, write: Write, *, then: Committed | None = None) -> None:
        """Queue ``write``; it runs after every write queued before it, and ``then`` after it
        committed."""
        if len(self._queue) >= self.max_pending:
            self._queue.popleft()
            self.dropped += 1
            logger.error(
                "conversation %s: %d records dropped while the database is away",
                self.conversation_id,
                self.dropped,
            )
        self._queue.append((write, then))
        self._idle.clear()
        self._arrived.set()

    async def caught_up(self, *, timeout_s: float) -> bool:
        """Wait (up to ``timeout_s``) until every queued write has been tried; ``False`` at
        once while the database is away, or if the time ran out."""
        if self._task is None or self.stalled:
            return not self._queue
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                if self._stopping:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._write_first()

    async def _write_first(self) -> None:
        """Write the oldest queued record, retrying it for as long as the database is away."""
        delay = _FIRST_RETRY_S
        write, then = self._queue[0]
        while True:
            try:
                async with self.sessions() as session:
                    # Row-level security as a second line: this transaction sees one tenant.
                    await scope_to_tenant(session, self.tenant_id, switch_role=self.switch_role)
                    await write(session)
                    await session.commit()
            except Exception as error:  # an outage waits; anything else is logged and skipped
                if is_database_outage(error):
                    self._stall()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _MAX_RETRY_S)
                    continue
                self.failures += 1
                logger.exception("could not record to conversation %s", self.conversation_id)
            else:
                if then is not None:
                    try:
                        then()
                    except Exception:  # what follows a record must not stop the recording
                        logger.exception("after recording to %s", self.conversation_id)
            if self._queue and self._queue[0][0] is write:
                self._queue.popleft()
            if self.stalled and not self._queue:
                self.stalled = False
                if self.on_outage is not None:
                    self.on_outage(False, 0)
            return

    def _stall(self) -> None:
        if not self.stalled:
            self.stalled = True
            logger.warning(
                "conversation %s: the database is away, %d records wait",
                self.conversation_id,
                len(self._queue),
            )
            if self.on_outage is not None:
                self.on_outage(True, len(self._queue))

    async def aclose(self, *, timeout_s: float = 60.0) -> None:
        """Finish the queued writes (up to ``timeout_s``, retrying through an outage), then
        stop; idempotent. Whatever is still queued then is lost, and logged as such."""
        if self._task is None:
            return
        task, self._task = self._task, None
        self._stopping = True
        self._arrived.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            await asyncio.wait({task})
            logger.error(
                "gave up recording conversation %s after %s s: %d records lost",
                self.conversation_id,
                timeout_s,
                len(self._queue),
            )


class ConversationJournal:
    """The state machine of one live conversation and everything it records.

    State changes, transcript entries and events go to the client (through ``outbox``) and to
    the database (through the recorder), in the order they happened.
    """

    def __init__(
        self,
        recorder: ConversationRecorder,
        *,
        outbox: Outbox,
        clock: ConversationClock,
        events: EventRecorder | None = None,
    ) -> None:
        self.recorder = recorder
        self.events = events
        recorder.on_outage = self._storage_changed
        self.outbox = outbox
        self.clock = clock
        self.machine = ConversationStateMachine()
        self.machine.add_listener(self._state_changed)
        self.closing = False
        #: ``ready`` is the client's first message: changes before it are recorded, not sent.
        self.announcing = False

    @property
    def conversation_id(self) -> uuid.UUID:
        return self.recorder.conversation_id

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.recorder.tenant_id

    def send(self, message: protocol.Message) -> None:
        """Queue a message for the client unless the connection is already gone."""
        if not self.outbox.closed:
            self.outbox.send_json(message)

    def _storage_changed(self, stalled: bool, pending: int) -> None:
        # Told, not hidden: the client knows its words are not saved yet.
        self.send(protocol.storage(saved=not stalled, pending=pending))

    async def _state_changed(self, change: StateChange) -> None:
        at_ms = self.clock.ms()
        if self.announcing and (not self.closing or change.to_state == S.DISCONNECTED):
            self.send(
                protocol.state(
                    state=change.to_state.value,
                    previous=change.from_state.value,
                    degraded=change.degraded,
                    reason=change.reason,
                    at_ms=at_ms,
                )
            )
        tenant_id, conversation_id = self.tenant_id, self.conversation_id

        async def write(session: AsyncSession) -> None:
            await ConversationEventRepository(session, tenant_id).add_event(
                conversation_id=conversation_id,
                kind="state_rejected" if change.rejected else "state",
                from_state=change.from_state.value,
                to_state=change.to_state.value,
                reason=change.reason,
                at_ms=at_ms,
                detail={"degraded": change.degraded} if change.degraded else None,
            )

        self.recorder.write(write)

    async def set_degraded(self, degraded: bool, *, reason: str) -> None:
        """Raise or clear the degraded flag where the phase allows it."""
        if self.machine.state in DEGRADABLE:
            await self.machine.set_degraded(degraded, reason=reason)

    def event(self, kind: str, *, reason: str) -> None:
        at_ms = self.clock.ms()
        tenant_id, conversation_id = self.tenant_id, self.conversation_id

        async def write(session: AsyncSession) -> None:
            await ConversationEventRepository(session, tenant_id).add_event(
                conversation_id=conversation_id, kind=kind, reason=reason, at_ms=at_ms
            )

        self.recorder.write(write)

    def transcript(
        self,
        role: str,
        text: str,
        *,
        actual_start_ms: int | None,
        duration_ms: int | None,
        interrupted: bool = False,
    ) -> None:
        """A transcript entry: stored, then shown to the client (never a line the record lacks,
        even if this process dies the next instant; while the database is away, lines wait)."""
        entry = protocol.transcript_entry(
            role=role,
            text=storable(text),
            actual_start_ms=actual_start_ms,
            duration_ms=duration_ms,
            interrupted=interrupted,
        )
        tenant_id, conversation_id = self.tenant_id, self.conversation_id

        async def write(session: AsyncSession) -> None:
            await TranscriptRepository(session, tenant_id).append(
                conversation_id=conversation_id, **entry
            )

        def show() -> None:
            try:
                self.send(protocol.transcript(entry))
            except OutboxClosed:
                pass  # the client is gone (or too slow, and being cut off): the line is stored

        self.recorder.write(write, then=show)

    async def settle(self, *, timeout_s: float = 2.0) -> None:
        """Let the queued records land (and their lines be shown) before ``end``, briefly."""
        await self.recorder.caught_up(timeout_s=timeout_s)

    def turn(self, figures: TurnFigures) -> None:
        """The turn's row. Its number is the one the client saw, unless a connection racing this
        one on the same conversation stored that number first: then the next free one."""
        conversation_id, tenant_id = self.conversation_id, self.tenant_id

        def row(seq: int) -> ConversationTurn:
            return ConversationTurn(
                conversation_id=conversation_id,
                seq=seq,
                trigger=figures.trigger,
                user_text=None if figures.user_text is None else storable(figures.user_text),
                started_at_ms=figures.started_ms,
                first_delta_ms=figures.first_delta_ms,
                first_audio_ms=figures.first_audio_ms,
                audio_ms=figures.audio_ms,
                synthesis_ms=round(figures.synthesis_s * 1000),
                synthesis_rtf=figures.synthesis_rtf,
                sentences=figures.sentences,
                interrupted=figures.outcome == "interrupted",
                outcome=figures.outcome,
                error_code=figures.error_code,
            )

        async def write(session: AsyncSession) -> None:
            repo = ConversationEventRepository(session, tenant_id)
            try:
                async with session.begin_nested():
                    await repo.add_turn(row(figures.turn_id))
            except IntegrityError:
                await repo.add_turn(row(await repo.next_turn_seq(conversation_id)))

        self.recorder.write(write)

    def client_seen(self) -> None:
        """The client is still here (the sweeper leaves this conversation's avatar be)."""
        seen_at = utcnow()
        tenant_id, conversation_id = self.tenant_id, self.conversation_id

        async def write(session: AsyncSession) -> None:
            await ConversationRepository(session, tenant_id).mark_active(
                conversation_id, seen_at=seen_at
            )

        self.recorder.write(write)

    def analytics(self, kind: str, data: dict[str, Any]) -> None:
        """An analytics event of the tenant's (delivered to its webhooks), in the record's order."""
        if self.events is None:
            return
        events, tenant_id, conversation_id = self.events, self.tenant_id, self.conversation_id

        async def write(session: AsyncSession) -> None:
            await record_event(
                session, tenant_id=tenant_id, type=kind, data=data, conversation_id=conversation_id
            )

        self.recorder.write(write)
        events.recorded(kind)

    def ended(self, reason: str) -> None:
        """The conversation ended here: mark its row."""
        tenant_id, conversation_id = self.tenant_id, self.conversation_id

        async def write(session: AsyncSession) -> None:
            await ConversationRepository(session, tenant_id).end(conversation_id, reason=reason)

        self.recorder.write(write)


def entry_message(entry: TranscriptEntry) -> protocol.Message:
    """A stored transcript entry as the client sees it (``ready`` lists them on resume)."""
    return protocol.transcript_entry(
        role=entry.role,
        text=entry.text,
        actual_start_ms=entry.actual_start_ms,
        duration_ms=entry.duration_ms,
        interrupted=entry.interrupted,
    )
