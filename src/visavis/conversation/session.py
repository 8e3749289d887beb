"""ConversationSession: one live conversation on this instance, for one connected client.

It takes the client's messages (already parsed by the protocol module), runs the turns (the
agent's deltas → sentences → the speech output), interrupts them, and keeps the journal:
states, transcript timed on the audio timeline, turn figures. It knows nothing of WebSockets:
messages leave through an ``Outbox``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from visavis.agents.base import INTERRUPTED_MARK, Message
from visavis.agents.errors import AgentError
from visavis.agents.plans import InterviewPlan
from visavis.conversation import mic_frames, protocol, reports
from visavis.conversation.avatar import ConversationAvatar
from visavis.conversation.journal import (
    ConversationJournal,
    ConversationRecorder,
    ConversationStateMachine,
    entry_message,
)
from visavis.conversation.journal import ConversationState as S
from visavis.conversation.local_output import LocalVoiceOutput
from visavis.conversation.outbox import Outbox, OutboxClosed
from visavis.conversation.prepared import PreparedTurn
from visavis.conversation.segmenter import (
    DeltaReceived,
    SentenceReady,
    SentenceSegmenter,
    TurnComplete,
    reply_sentences,
)
from visavis.conversation.services import Holding, LiveServices
from visavis.conversation.speech_output import Heard, ReplyFigures, SpeechOutput, UtteranceIds
from visavis.conversation.turn_figures import TurnFigures
from visavis.conversation.voice_input import VoiceInput, open_voice_input
from visavis.db.base import utcnow
from visavis.db.models import Conversation, TranscriptEntry
from visavis.errors import VisavisError
from visavis.speech.tts.fallback import VoiceSwitch
from visavis.speech.voice import LocalVoice
from visavis.timing import ConversationClock

logger = logging.getLogger(__name__)

HEARTBEAT_WRITE_S = 10.0  # at most; a third of the client timeout when that is shorter
#: A pause this long in the agent's stream releases the pending words as a sentence.
AGENT_PAUSE_S = 0.5


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


class ConversationSession:
    """Runs the turns of one conversation for one connected client."""

    def __init__(
        self,
        *,
        services: LiveServices,
        conversation: Conversation,
        outbox: Outbox,
        hello: protocol.Hello,
        transcript: Sequence[TranscriptEntry] = (),
        turns_so_far: int = 0,
        plan: InterviewPlan | None = None,
        holding: Holding | None = None,
    ) -> None:
        self.services = services
        self.holding = holding
        self.conversation_id = conversation.id
        self.tenant_id = conversation.tenant_id
        self.conversation = conversation
        self.outbox = outbox
        self.hello = hello
        origin_ms = max(0, int((utcnow() - conversation.created_at).total_seconds() * 1000))
        self.clock = ConversationClock(origin_ms=origin_ms)
        recorder = ConversationRecorder(
            services.sessions,
            conversation_id=conversation.id,
            tenant_id=conversation.tenant_id,
            switch_role=services.settings.database_rls,
        )
        self.journal = ConversationJournal(
            recorder, outbox=outbox, clock=self.clock, events=services.events
        )
        self.metrics = services.metrics
        self.agent = services.agents.create(
            conversation.agent, plan=plan, conversation=conversation
        )
        self._plan_vocabulary = plan.vocabulary if plan is not None else ()
        voice = LocalVoice(
            services.tts, sample_rate=hello.sample_rate, scheduler=services.synthesis
        )
        self._voice = voice
        local = LocalVoiceOutput.build(
            voice,
            outbox,
            clock=self.clock,
            lead_ms=services.settings.ws_audio_lead_ms,
            ids=UtteranceIds(),
            on_underrun=functools.partial(reports.audio_underrun, self.metrics),
        )
        self.avatar = ConversationAvatar(
            conversation=conversation,
            launcher=services.launcher,
            flags=services.flags,
            local=local,
            journal=self.journal,
            wanted=hello.avatar,
            quality=hello.quality,
        )
        self.history: list[Message] = [
            _message(entry) for entry in transcript if entry.text and entry.role != "note"
        ]
        self._transcript = list(transcript)
        self._turn_seq = turns_so_far
        self._turn_task: asyncio.Task[None] | None = None
        self._prepared: PreparedTurn | None = None
        self._last_heartbeat = 0.0
        self._last_heard_from = 0.0
        self._closed = asyncio.Event()
        self._heartbeats: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.voice: VoiceInput | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        #: ``end`` has begun: no new turn starts, nothing interrupts the ending.
        self._ending = False

    @property
    def machine(self) -> ConversationStateMachine:
        return self.journal.machine

    # --- opening ------------------------------------------------------------------------

    async def open(self) -> None:
        """Announce ``ready`` and start listening (or greeting, for agents that speak first).

        A newer connection of the same conversation may close this one while it opens: it
        then stops where it is.
        """
        machine = self.journal.machine
        self.journal.recorder.start()
        await machine.transition(S.CONNECTING, reason="client_connected")
        await self._use_twin_voice()
        await self.avatar.connect(timeout_s=self.services.settings.avatar_start_deadline_s)
        if self.journal.closing:
            return
        await machine.transition(S.READY, reason="hello_accepted")
        if self.journal.closing:
            return
        self._heartbeats = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
        resumed = bool(self._transcript) or self._turn_seq > 0
        self.voice, audio_in = open_voice_input(
            self.hello,
            self.services,
            clock=self.clock,
            send=self.journal.send,
            user_said=self.user_said,
            agent_busy=lambda: self._turn_task is not None and not self._turn_task.done(),
            barge_in=functools.partial(self.interrupt, reason="voice_barge_in"),
            prepare=self.prepare,
            end_silence_ms=self.conversation.end_silence_ms,
            vocabulary=[*(self.conversation.vocabulary or ()), *self._plan_vocabulary],
        )
        self.outbox.send_json(
            protocol.ready(
                conversation_id=str(self.conversation_id),
                agent=self.conversation.agent,
                sample_rate=self.hello.sample_rate,
                avatar=self.avatar.state(),
                state=machine.state.value,
                transcript=[entry_message(e) for e in self._transcript],
                resumed=resumed,
                audio_in=audio_in,
            )
        )
        self.journal.announcing = True
        self._heard_from_client()
        fresh = not self._transcript and self._turn_seq == 0
        if fresh:
            reports.conversation_started(self.journal, self.metrics, self.conversation)
        greets = (
            self.agent.greets_first
            and fresh
            and (
                self.holding is None
                or await self.holding.claim_greeting(self.services.sessions, self.conversation_id)
            )
        )
        if self.journal.closing:
            return
        if greets:
            self._start_turn(trigger="greeting", user_text=None)
        else:
            await machine.transition(S.LISTENING, reason="ready")

    async def _use_twin_voice(self) -> None:
        """A twin with a ready cloned voice speaks with it (the bundled voice behind it)."""
        twin_id = self.conversation.twin_id
        if self.services.twin_voice is None or twin_id is None:
            return
        engine = await self.services.twin_voice(
            self.tenant_id, twin_id, self.services.tts, self._voice_switched
        )
        if engine is not None:
            self._voice.engine = engine

    def _voice_switched(self, switch: VoiceSwitch) -> None:
        """The cloned voice failed (the bundled one says the sentence) or came back."""
        fallback, at_ms = switch.speaking == "fallback", self.clock.ms()
        voice = "bundled" if fallback else "cloned"
        self.journal.send(
            protocol.speech_voice(
                voice=voice, reason=switch.reason, message=switch.message, at_ms=at_ms
            )
        )
        if fallback or not self.avatar.degraded:
            task = asyncio.create_task(self.journal.set_degraded(fallback, reason=switch.reason))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # --- client messages ----------------------------------------------------------------

    async def handle(self, message: protocol.ClientMessage) -> None:
        """One message from the client, parsed and checked by the protocol module."""
        self._heard_from_client()
        match message:
            case protocol.UserText(text=text):
                await self._user_text(text)
            case protocol.Interrupt():
                await self.interrupt(reason="client_interrupt")
            case protocol.Playback(utterance_id=uid, position_ms=position, ended=ended):
                self.avatar.output.playback(uid, position, ended=ended)
            case protocol.AvatarToggle(enabled=enabled):
                await self._avatar_toggle(enabled)
            case protocol.AvatarStatus(status=status, reason=reason):
                await self.avatar.client_media(status, reason)
            case protocol.ProviderEvent(data=data):
                self.avatar.provider_event(data)
            case protocol.AvatarQuality(quality=quality, reason=reason):
                self.avatar.media_quality(quality, reason)
            case protocol.End():
                await self.end(reason="ended_by_client")
            case protocol.Ping():
                self.journal.send(protocol.pong())
            case mic_frames.MicFrame():
                self._mic(message)
            case protocol.AudioInEnd():
                if self.voice is not None:
                    self.voice.end_of_audio()
            case protocol.Hello():
                self.error("already_connected", "hello was already accepted on this connection")

    def _mic(self, frame: mic_frames.MicFrame) -> None:
        if self.voice is None:
            self.error(
                "audio_in_not_accepted", "this connection takes no audio: see ready.audio_in"
            )
            return
        try:
            self.voice.push(frame, asyncio.get_running_loop().time())
        except protocol.ProtocolError as bad:
            self.error(bad.code, bad.message)

    def error(self, code: str, message: str) -> None:
        """Tell the client something went wrong; the connection stays open."""
        self.journal.send(protocol.error(code=code, message=message))

    async def _user_text(self, text: str) -> None:
        await self.user_said(text, self.clock.ms(), None)

    async def user_said(self, text: str, actual_start_ms: int, duration_ms: int | None) -> None:
        """The person's turn (typed, or heard by the voice input): the agent answers it."""
        if self.journal.closing or self._ending:
            return
        await self.interrupt(reason="barge_in")
        if self._prepared is not None and not self._prepared.matches(text, len(self.history)):
            await self._discard()
        prepared, self._prepared = self._prepared, None
        self.history.append(Message("user", text))
        self.journal.transcript(
            "user", text, actual_start_ms=actual_start_ms, duration_ms=duration_ms
        )
        speech_end_ms = None if duration_ms is None else actual_start_ms + duration_ms
        if prepared is None:
            self._start_turn(trigger="user", user_text=text, speech_end_ms=speech_end_ms)
        else:
            self._turn_task = await prepared.confirm(
                self.journal, self.clock.ms(), speech_end_ms=speech_end_ms
            )

    async def prepare(self, text: str, actual_start_ms: int, duration_ms: int | None) -> None:
        """The person paused after ``text``: answer it, unheard until ``user_said`` confirms."""
        same = self._prepared is not None and self._prepared.matches(text, len(self.history))
        if self.journal.closing or same or (self._turn_task and not self._turn_task.done()):
            return
        await self._discard()
        self._turn_seq += 1
        record = TurnRecord(turn_id=self._turn_seq, trigger="user", started_ms=self.clock.ms())
        record.prepared = PreparedTurn(text, len(self.history), record)
        turn = self._run_turn(record, [*self.history, Message("user", text)], text)
        self._prepared = record.prepared.start(turn, name=f"prepared-{record.turn_id}")

    async def _discard(self) -> None:
        prepared, self._prepared = self._prepared, None
        if prepared is not None and await prepared.discard() == self._turn_seq:
            self._turn_seq -= 1  # its number goes to the next turn: nobody saw it

    async def _avatar_toggle(self, enabled: bool) -> None:
        refusal = await self.avatar.toggle(enabled)
        if refusal is not None:
            self.error("avatar_unavailable", refusal)
        else:
            self.journal.event("avatar", reason="user_enabled" if enabled else "user_disabled")

    # --- turns --------------------------------------------------------------------------

    def _start_turn(
        self, *, trigger: str, user_text: str | None, speech_end_ms: int | None = None
    ) -> None:
        self._turn_seq += 1
        record = TurnRecord(self._turn_seq, trigger, self.clock.ms(), speech_end_ms=speech_end_ms)
        self._turn_task = asyncio.create_task(
            self._run_turn(record, list(self.history), user_text),
            name=f"turn-{self.conversation_id}-{record.turn_id}",
        )

    async def _run_turn(
        self, record: TurnRecord, messages: list[Message], user_text: str | None
    ) -> None:
        machine, prepared = self.journal.machine, record.prepared
        speaking: Callable[[], Awaitable[object]]
        if prepared is None:
            await machine.transition(S.THINKING, reason=record.trigger)
            speaking = functools.partial(machine.transition, S.SPEAKING, reason="first_audio")
        else:  # it thinks, then speaks, once confirmed
            speaking = functools.partial(prepared.speaking, self.journal)
        output = self.avatar.output
        figures = output.start(
            record.turn_id, ReplyFigures(record.turn_id, on_first_audio=speaking)
        )
        heard: Heard | None = None
        failure: BaseException | None = None
        interrupted = False
        try:
            heard = await self._reply(record, messages, output, figures)
        except asyncio.CancelledError:
            interrupted = True
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except Exception as exc:  # reported to the client and logged in _finish_turn
            failure = exc
        if heard is None:
            heard = await output.interrupt()
        if prepared is not None and await prepared.discarded():
            return  # nothing of it was heard
        await self._finish_turn(
            record, figures, heard, user_text, interrupted=interrupted, failure=failure
        )

    async def _reply(
        self,
        record: TurnRecord,
        messages: list[Message],
        output: SpeechOutput,
        figures: ReplyFigures,
    ) -> Heard:
        """The agent's deltas become sentences, the sentences speech (prepared one ahead, while
        the agent goes on writing); returns what was heard once the listener heard it all.
        """
        settings = self.services.settings
        spoken_chars = 0
        stream = self.agent.stream(messages)
        async for event in reply_sentences(stream, SentenceSegmenter(), pause_s=AGENT_PAUSE_S):
            if isinstance(event, DeltaReceived):
                if record.first_delta_ms is None:
                    record.first_delta_ms = self.clock.ms() - record.started_ms
                record.reply += event.text
                delta = protocol.agent_delta(turn_id=record.turn_id, text=event.text)
                if record.prepared is None or not record.prepared.hold(delta):
                    self.journal.send(delta)
            elif isinstance(event, SentenceReady):
                spoken_chars += len(event.text)
                too_long = (
                    spoken_chars > settings.tts_max_reply_chars
                    or figures.audio_ms > settings.tts_max_reply_s * 1000
                )
                if too_long:  # a runaway reply: what is said so far stands, the rest is dropped
                    figures.skipped.append(("reply_too_long", event.text))
                    break
                await output.push_text(event.text)
            elif isinstance(event, TurnComplete):
                break
        return await output.flush()

    async def _finish_turn(
        self,
        record: TurnRecord,
        figures: ReplyFigures,
        heard: Heard,
        user_text: str | None,
        *,
        interrupted: bool,
        failure: BaseException | None,
    ) -> None:
        now = self.clock.ms()
        text, start, duration = heard.text, heard.start_ms, heard.duration_ms
        if not interrupted and failure is None:
            text = text or record.reply.strip()
            start = now if start is None else start
        if text:
            self.history.append(_assistant(text, interrupted=interrupted))
        if text or interrupted:
            self.journal.transcript(
                "agent", text, actual_start_ms=start, duration_ms=duration, interrupted=interrupted
            )
        reports.unsaid_noted(self.journal, self.clock, figures.skipped)
        outcome = "interrupted" if interrupted else "error" if failure else "completed"
        first_audio_ms = (
            None if figures.first_audio_ms is None else figures.first_audio_ms - record.started_ms
        )
        turn = TurnFigures(
            turn_id=record.turn_id,
            trigger=record.trigger,
            user_text=user_text,
            started_ms=record.started_ms,
            first_delta_ms=record.first_delta_ms,
            first_audio_ms=first_audio_ms,
            audio_ms=figures.audio_ms,
            synthesis_s=figures.synthesis_s,
            sentences=figures.sentences,
            outcome=outcome,
            error_code=failure.code if isinstance(failure, VisavisError) else None,
        )
        self.journal.turn(turn)
        reports.turn_measured(self.journal, self.metrics, self.conversation.agent, turn)
        if record.speech_end_ms is not None and figures.first_audio_ms is not None:
            reports.voice_turn_measured(
                self.metrics, self.conversation.agent, figures.first_audio_ms - record.speech_end_ms
            )
        if self.journal.closing:
            return
        if failure is not None:
            await self._report_failure(failure)
        self.journal.send(
            protocol.metrics(
                turn_id=record.turn_id,
                first_delta_ms=record.first_delta_ms,
                first_audio_ms=first_audio_ms,
                synthesis_rtf=turn.synthesis_rtf,
            )
        )
        self.journal.send(
            protocol.turn_end(turn_id=record.turn_id, interrupted=interrupted, reason=outcome)
        )
        if outcome == "completed" and self.agent.wants_to_end(self.history):
            await self.end(reason="agent_closed")  # no listening again: the agent closed
            return
        await self.journal.machine.transition(S.LISTENING, reason=outcome)

    async def _report_failure(self, failure: BaseException) -> None:
        if isinstance(failure, OutboxClosed):
            return  # the client is gone; the connection handler closes the session
        if isinstance(failure, AgentError):
            self.error(failure.code, failure.message)
        else:
            logger.error("turn failed", exc_info=failure)
            self.error("internal", "the reply failed unexpectedly; please try again")
        await self.journal.machine.transition(S.ERROR, reason=getattr(failure, "code", "internal"))

    async def interrupt(self, *, reason: str) -> bool:
        """Stop the running turn now; returns whether one was running."""
        task = self._turn_task
        if task is None or task.done() or task is asyncio.current_task() or self._ending:
            return False  # an ending conversation finishes ending, even from within a turn
        task.cancel()
        await asyncio.wait({task})
        self.journal.event("interrupt", reason=reason)
        return True

    # --- ending -------------------------------------------------------------------------

    async def end(self, *, reason: str, by_server: bool = False) -> None:
        """End the conversation: stop the turn, mark it ended, say goodbye to the client."""
        if self.journal.closing or self._ending:
            return
        await self.interrupt(reason=reason)
        self._ending = True
        if not by_server:
            self.journal.ended(reason)
        if self.metrics is not None:
            self.metrics.conversation_ended(reason=reason)
        self.journal.analytics(
            "conversation_ended",
            {
                "reason": reason,
                "duration_s": round(self.clock.seconds(), 1),
                "turns": self._turn_seq,
            },
        )
        await self.journal.settle()  # the last lines reach the client before its `end`
        self.journal.send(protocol.end(reason=reason))
        await self.avatar.end()
        await self.aclose(reason=reason, code=1000)

    async def aclose(self, *, reason: str, code: int = 1000) -> None:
        """Release everything the conversation holds on this instance; idempotent.

        A second call waits for the first to finish; the queued records are written even if
        the caller is cancelled meanwhile.
        """
        if self.journal.closing:
            await self._closed.wait()
            return
        self.journal.closing = True
        self.close_code = code
        self.close_reason = reason
        task = self._turn_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait({task})
        await self._discard()
        machine = self.journal.machine
        if machine.can(S.DISCONNECTED):
            await machine.transition(S.DISCONNECTED, reason=reason)
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
        if self.voice is not None:
            await self.voice.aclose()
        await self.avatar.aclose()
        await self.journal.recorder.aclose()
        await self.agent.aclose()

    # --- presence -----------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        """Say the client is still here, so the sweeper leaves this conversation's avatar be.

        Only while it is: a client that stopped talking to us (not even ``ping``) stops
        counting as present, whatever state its socket is in.
        """
        timeout_s = self.services.settings.client_heartbeat_timeout_s
        while True:
            await asyncio.sleep(self._heartbeat_every_s)
            if self.clock.seconds() - self._last_heard_from < timeout_s:
                self._last_heartbeat = self.clock.seconds()
                self.journal.client_seen()

    @property
    def _heartbeat_every_s(self) -> float:
        # The sweeper counts a client gone after the timeout: several heartbeats must fit in it.
        return min(HEARTBEAT_WRITE_S, self.services.settings.client_heartbeat_timeout_s / 3)

    def _heard_from_client(self) -> None:
        now = self.clock.seconds()
        self._last_heard_from = now
        if now - self._last_heartbeat >= self._heartbeat_every_s or self._last_heartbeat == 0.0:
            self._last_heartbeat = now
            self.journal.client_seen()


def _assistant(text: str, *, interrupted: bool) -> Message:
    """What the agent said, as heard: cut-off replies carry the mark."""
    return Message("assistant", text + INTERRUPTED_MARK if interrupted else text)


def _message(entry: TranscriptEntry) -> Message:
    if entry.role == "user":
        return Message("user", entry.text)
    return _assistant(entry.text, interrupted=entry.interrupted)
