"""ConversationSession: one live conversation on this instance.

It wires the agent, the segmenter and the voice (or avatar) together for each turn, handles
interruption, keeps the state machine, and records transcripts with their audio timing, state
events and turn metrics. It knows nothing of WebSockets: messages arrive as dicts and leave
through an ``Outbox``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.agents.base import INTERRUPTED_MARK, Message
from visavis.agents.errors import AgentError
from visavis.agents.plans import InterviewPlan
from visavis.conversation.avatar import ConversationAvatar
from visavis.conversation.clock import ConversationClock
from visavis.conversation.live import LiveServices
from visavis.conversation.outbox import Outbox, OutboxClosed
from visavis.conversation.output import LocalSpeechOutput
from visavis.conversation.playout import Playout
from visavis.conversation.recorder import ConversationRecorder
from visavis.conversation.states import DEGRADABLE, ConversationStateMachine, StateChange
from visavis.conversation.states import ConversationState as S
from visavis.conversation.turn import TurnRecord, TurnRunner, played_text
from visavis.conversation.voice import LocalVoice
from visavis.db.base import utcnow
from visavis.db.models import Conversation, ConversationTurn, TranscriptEntry
from visavis.db.repositories.conversation_events import ConversationEventRepository
from visavis.db.repositories.conversations import ConversationRepository
from visavis.db.repositories.transcripts import TranscriptRepository
from visavis.errors import VisavisError

logger = logging.getLogger(__name__)

HEARTBEAT_WRITE_S = 10.0
MAX_USER_TEXT = 4000


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """What the client asked for in ``hello``."""

    sample_rate: int = 24000
    avatar: bool = True
    quality: str = "auto"


class ConversationSession:
    """Runs the turns of one conversation for one connected client."""

    def __init__(
        self,
        *,
        services: LiveServices,
        conversation: Conversation,
        outbox: Outbox,
        options: ClientOptions,
        transcript: Sequence[TranscriptEntry] = (),
        turns_so_far: int = 0,
        plan: InterviewPlan | None = None,
    ) -> None:
        self.services = services
        self.conversation_id = conversation.id
        self.tenant_id = conversation.tenant_id
        self.conversation = conversation
        self.outbox = outbox
        self.options = options
        origin_ms = max(0, int((utcnow() - conversation.created_at).total_seconds() * 1000))
        self.clock = ConversationClock(origin_ms=origin_ms)
        self.machine = ConversationStateMachine()
        self.machine.add_listener(self._on_state_change)
        self.recorder = ConversationRecorder(
            services.sessions,
            conversation_id=conversation.id,
            tenant_id=conversation.tenant_id,
            switch_role=services.settings.database_rls,
        )
        self.agent = services.agents.create(conversation.agent, plan=plan)
        self.playout = Playout(
            outbox,
            self.clock,
            sample_rate=options.sample_rate,
            lead_ms=services.settings.ws_audio_lead_ms,
        )
        self.avatar = ConversationAvatar(
            conversation=conversation,
            launcher=services.launcher,
            flags=services.flags,
            local=LocalSpeechOutput(
                LocalVoice(
                    services.tts, sample_rate=options.sample_rate, scheduler=services.synthesis
                ),
                self.playout,
            ),
            outbox=outbox,
            clock=self.clock,
            wanted=options.avatar,
            set_degraded=self._set_degraded,
        )
        self.history: list[Message] = [_message(entry) for entry in transcript if entry.text]
        self._transcript = list(transcript)
        self._turn_seq = turns_so_far
        self._utterances = 0
        self._turn_task: asyncio.Task[None] | None = None
        self._turn: TurnRecord | None = None
        self._last_heartbeat = 0.0
        self._closing = False
        self._closed = asyncio.Event()
        self._heartbeats: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    # --- opening ------------------------------------------------------------------------

    async def open(self) -> None:
        """Announce ``ready`` and start listening (or greeting, for agents that speak first)."""
        self.recorder.start()
        await self.machine.transition(S.CONNECTING, reason="client_connected")
        await self.avatar.connect(timeout_s=self.services.settings.avatar_start_deadline_s)
        await self.machine.transition(S.READY, reason="hello_accepted")
        self._heartbeats = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
        resumed = bool(self._transcript) or self._turn_seq > 0
        self.outbox.send_json(self._ready_message(resumed))
        self._heartbeat(force=True)
        if self.agent.greets_first and not self._transcript and self._turn_seq == 0:
            self._start_turn(trigger="greeting", user_text=None)
        else:
            await self.machine.transition(S.LISTENING, reason="ready")

    def _ready_message(self, resumed: bool) -> dict[str, Any]:
        return {
            "type": "ready",
            "protocol": 1,
            "conversation_id": str(self.conversation_id),
            "agent": self.conversation.agent,
            "audio": {
                "format": "pcm_s16le",
                "channels": 1,
                "sample_rate": self.options.sample_rate,
                "header_bytes": 12,
            },
            "avatar": self.avatar_state(),
            "state": self.machine.state.value,
            "transcript": [_entry_json(e) for e in self._transcript],
            "resumed": resumed,
        }

    def avatar_state(self) -> dict[str, Any]:
        """The avatar as the client should show it now."""
        return self.avatar.state()

    async def _set_degraded(self, degraded: bool, reason: str) -> None:
        if self.machine.state in DEGRADABLE:
            await self.machine.set_degraded(degraded, reason=reason)

    # --- client messages ----------------------------------------------------------------

    async def handle(self, message: dict[str, Any]) -> None:
        """One message from the client (already parsed and checked to be an object)."""
        self._heartbeat()
        kind = message.get("type")
        if kind == "user_text":
            await self._user_text(message.get("text"))
        elif kind == "interrupt":
            await self.interrupt(reason="client_interrupt")
        elif kind == "playback":
            self._playback(message)
        elif kind == "avatar_toggle":
            await self._avatar_toggle(message.get("enabled"))
        elif kind == "avatar_status":
            if not await self.avatar.client_media(message.get("status"), message.get("reason")):
                self.error("invalid_message", "avatar_status needs status 'connected' or 'failed'")
        elif kind == "end":
            await self.end(reason="ended_by_client")
        elif kind == "ping":
            self._send({"type": "pong"})
        elif kind == "hello":
            self.error("already_connected", "hello was already accepted on this connection")
        else:
            self.error("unknown_message", f"unknown message type {kind!r}: see docs/protocol.md")

    def error(self, code: str, message: str) -> None:
        """Tell the client something went wrong; the connection stays open."""
        self._send({"type": "error", "code": code, "message": message})

    async def _user_text(self, text: Any) -> None:
        if not isinstance(text, str) or not text.strip():
            self.error("invalid_message", "user_text needs a non-empty 'text' string")
            return
        if len(text) > MAX_USER_TEXT:
            self.error("text_too_long", f"user_text is limited to {MAX_USER_TEXT} characters")
            return
        await self.interrupt(reason="barge_in")
        text = text.strip()
        at_ms = self.clock.ms()
        self.history.append(Message("user", text))
        self._add_transcript("user", text, actual_start_ms=at_ms, duration_ms=None)
        self._start_turn(trigger="user", user_text=text)

    def _playback(self, message: dict[str, Any]) -> None:
        utterance_id = message.get("utterance_id")
        position = message.get("position_ms")
        ended = message.get("ended", False)
        if (
            not isinstance(utterance_id, int)
            or not isinstance(position, int | float)
            or not isinstance(ended, bool)
        ):
            self.error("invalid_message", "playback needs utterance_id (int) and position_ms")
            return
        self.playout.report(utterance_id=utterance_id, position_ms=int(position), ended=ended)

    async def _avatar_toggle(self, enabled: Any) -> None:
        if not isinstance(enabled, bool):
            self.error("invalid_message", "avatar_toggle needs 'enabled': true or false")
            return
        refusal = await self.avatar.toggle(enabled)
        if refusal is not None:
            self.error("avatar_unavailable", refusal)
        else:
            self._record_event("avatar", reason="user_enabled" if enabled else "user_disabled")

    # --- turns --------------------------------------------------------------------------

    def _next_utterance_id(self) -> int:
        self._utterances += 1
        return self._utterances

    def _start_turn(self, *, trigger: str, user_text: str | None) -> None:
        self._turn_seq += 1
        record = TurnRecord(turn_id=self._turn_seq, trigger=trigger, started_ms=self.clock.ms())
        self._turn = record
        self.playout.forget_before(record.turn_id - 1)
        self._turn_task = asyncio.create_task(
            self._run_turn(record, list(self.history), user_text),
            name=f"turn-{self.conversation_id}-{record.turn_id}",
        )

    async def _run_turn(
        self, record: TurnRecord, messages: list[Message], user_text: str | None
    ) -> None:
        await self.machine.transition(S.THINKING, reason=record.trigger)
        runner = TurnRunner(
            record=record,
            agent=self.agent,
            messages=messages,
            output=self.avatar.output,
            outbox=self.outbox,
            clock=self.clock,
            next_utterance_id=self._next_utterance_id,
            on_first_audio=self._speaking,
        )
        failure: BaseException | None = None
        interrupted = False
        try:
            await runner.run()
        except asyncio.CancelledError:
            interrupted = True
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except BaseExceptionGroup as group:
            failure = _first_leaf(group)
        except Exception as exc:  # reported to the client and logged in _finish_turn
            failure = exc
        await self._finish_turn(record, user_text, interrupted=interrupted, failure=failure)

    async def _speaking(self) -> None:
        await self.machine.transition(S.SPEAKING, reason="first_audio")

    async def _finish_turn(
        self,
        record: TurnRecord,
        user_text: str | None,
        *,
        interrupted: bool,
        failure: BaseException | None,
    ) -> None:
        now = self.clock.ms()
        if interrupted or failure is not None:
            text, duration, start = played_text(record, now)
        else:
            text = " ".join(u.text for u in record.delivered) or record.reply.strip()
            start = record.delivered[0].start_ms if record.delivered else now
            last = record.delivered[-1] if record.delivered else None
            duration = (last.end_ms - start) if last else 0
        if text:
            self.history.append(_assistant(text, interrupted=interrupted))
        if text or interrupted:
            self._add_transcript(
                "agent", text, actual_start_ms=start, duration_ms=duration, interrupted=interrupted
            )
        outcome = "interrupted" if interrupted else "error" if failure else "completed"
        error_code = failure.code if isinstance(failure, VisavisError) else None
        self._record_turn(record, user_text, outcome=outcome, error_code=error_code)
        if self._closing:
            return
        if failure is not None:
            await self._report_failure(failure)
        self._send(
            {
                "type": "metrics",
                "turn_id": record.turn_id,
                "first_delta_ms": record.first_delta_ms,
                "first_audio_ms": record.first_audio_ms,
                "synthesis_rtf": record.synthesis_rtf,
            }
        )
        self._send(
            {
                "type": "turn_end",
                "turn_id": record.turn_id,
                "interrupted": interrupted,
                "reason": outcome,
            }
        )
        await self.machine.transition(S.LISTENING, reason=outcome)
        if outcome == "completed" and self.agent.wants_to_end(self.history):
            await self.end(reason="agent_closed")

    async def _report_failure(self, failure: BaseException) -> None:
        if isinstance(failure, OutboxClosed):
            return  # the client is gone; the connection handler closes the session
        if isinstance(failure, AgentError):
            self.error(failure.code, failure.message)
        else:
            logger.error("turn failed", exc_info=failure)
            self.error("internal", "the reply failed unexpectedly; please try again")
        await self.machine.transition(S.ERROR, reason=getattr(failure, "code", "internal"))

    async def interrupt(self, *, reason: str) -> bool:
        """Stop the running turn now; returns whether one was running."""
        task = self._turn_task
        if task is None or task.done() or task is asyncio.current_task():
            return False
        task.cancel()
        self.outbox.drop_audio()
        self.avatar.output.stop()
        await asyncio.wait({task})
        self._record_event("interrupt", reason=reason)
        return True

    # --- ending -------------------------------------------------------------------------

    async def end(self, *, reason: str, by_server: bool = False) -> None:
        """End the conversation: stop the turn, mark it ended, say goodbye to the client."""
        if self._closing:
            return
        await self.interrupt(reason=reason)

        async def mark_ended(session: AsyncSession) -> None:
            await ConversationRepository(session, self.tenant_id).end(
                self.conversation_id, reason=reason
            )

        if not by_server:
            self.recorder.write(mark_ended)
        self._send({"type": "end", "reason": reason})
        await self.avatar.end()
        await self.aclose(reason=reason, code=1000)

    async def aclose(self, *, reason: str, code: int = 1000) -> None:
        """Release everything the conversation holds on this instance; idempotent.

        A second call waits for the first to finish; the queued records are written even if
        the caller is cancelled meanwhile.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self.close_code = code
        self.close_reason = reason
        task = self._turn_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait({task})
        if self.machine.can(S.DISCONNECTED):
            await self.machine.transition(S.DISCONNECTED, reason=reason)
        self.outbox.close()
        try:
            await asyncio.shield(self._release())
        finally:
            self._closed.set()

    async def _release(self) -> None:
        heartbeats = self._heartbeats
        if heartbeats is not None:
            heartbeats.cancel()
            await asyncio.wait({heartbeats})
        await self.avatar.aclose()
        await self.recorder.aclose()
        await self.agent.aclose()

    # --- recording ----------------------------------------------------------------------

    async def _on_state_change(self, change: StateChange) -> None:
        at_ms = self.clock.ms()
        if not self._closing or change.to_state == S.DISCONNECTED:
            self._send(
                {
                    "type": "state",
                    "state": change.to_state.value,
                    "previous": change.from_state.value,
                    "degraded": change.degraded,
                    "reason": change.reason,
                    "at_ms": at_ms,
                }
            )

        async def write(session: AsyncSession) -> None:
            await ConversationEventRepository(session, self.tenant_id).add_event(
                conversation_id=self.conversation_id,
                kind="state_rejected" if change.rejected else "state",
                from_state=change.from_state.value,
                to_state=change.to_state.value,
                reason=change.reason,
                at_ms=at_ms,
                detail={"degraded": change.degraded} if change.degraded else None,
            )

        self.recorder.write(write)

    def _record_event(self, kind: str, *, reason: str) -> None:
        at_ms = self.clock.ms()

        async def write(session: AsyncSession) -> None:
            await ConversationEventRepository(session, self.tenant_id).add_event(
                conversation_id=self.conversation_id, kind=kind, reason=reason, at_ms=at_ms
            )

        self.recorder.write(write)

    def _add_transcript(
        self,
        role: str,
        text: str,
        *,
        actual_start_ms: int | None,
        duration_ms: int | None,
        interrupted: bool = False,
    ) -> None:
        entry: dict[str, Any] = {
            "role": role,
            "text": text,
            "actual_start_ms": actual_start_ms,
            "duration_ms": duration_ms,
            "interrupted": interrupted,
        }
        self._send({"type": "transcript", "entry": entry})

        async def write(session: AsyncSession) -> None:
            await TranscriptRepository(session, self.tenant_id).append(
                conversation_id=self.conversation_id,
                role=role,
                text=text,
                actual_start_ms=actual_start_ms,
                duration_ms=duration_ms,
                interrupted=interrupted,
            )

        self.recorder.write(write)

    def _record_turn(
        self, record: TurnRecord, user_text: str | None, *, outcome: str, error_code: str | None
    ) -> None:
        row = ConversationTurn(
            conversation_id=self.conversation_id,
            seq=record.turn_id,
            trigger=record.trigger,
            user_text=user_text,
            started_at_ms=record.started_ms,
            first_delta_ms=record.first_delta_ms,
            first_audio_ms=record.first_audio_ms,
            audio_ms=record.audio_ms,
            synthesis_ms=round(record.synthesis_s * 1000),
            synthesis_rtf=record.synthesis_rtf,
            sentences=record.sentences,
            interrupted=outcome == "interrupted",
            outcome=outcome,
            error_code=error_code,
        )

        async def write(session: AsyncSession) -> None:
            await ConversationEventRepository(session, self.tenant_id).add_turn(row)

        self.recorder.write(write)

    async def _heartbeat_loop(self) -> None:
        """Say the client is still here, so the sweeper leaves this conversation's avatar be."""
        while True:
            await asyncio.sleep(HEARTBEAT_WRITE_S)
            self._heartbeat(force=True)

    def _heartbeat(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_heartbeat < HEARTBEAT_WRITE_S:
            return
        self._last_heartbeat = now
        seen_at = utcnow()

        async def write(session: AsyncSession) -> None:
            await ConversationRepository(session, self.tenant_id).mark_active(
                self.conversation_id, seen_at=seen_at
            )

        self.recorder.write(write)

    # --- helpers ------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        """Queue a message unless the connection is already gone."""
        if not self.outbox.closed:
            self.outbox.send_json(message)


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _assistant(text: str, *, interrupted: bool) -> Message:
    """What the agent said, as heard: cut-off replies carry the mark."""
    return Message("assistant", text + INTERRUPTED_MARK if interrupted else text)


def _message(entry: TranscriptEntry) -> Message:
    if entry.role == "user":
        return Message("user", entry.text)
    return _assistant(entry.text, interrupted=entry.interrupted)


def _entry_json(entry: TranscriptEntry) -> dict[str, Any]:
    return {
        "role": entry.role,
        "text": entry.text,
        "actual_start_ms": entry.actual_start_ms,
        "duration_ms": entry.duration_ms,
        "interrupted": entry.interrupted,
    }
