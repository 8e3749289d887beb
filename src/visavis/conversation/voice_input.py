"""The person's microphone in a live conversation: frames in, turns and barge-ins out.

One ``VoiceInput`` per connection that announced ``audio_in``: it checks the pace of the
frames, feeds a ``VoiceListener`` over the instance's shared recognizer, and tells the session:

- partial words go to the client as ``user_partial``;
- a final transcript starts a turn exactly like ``user_text`` (timed on the conversation clock:
  ``actual_start_ms`` at the speech onset, ``duration_ms`` to the end of the last voiced window);
- speech while the agent's turn runs interrupts it (barge-in) once ``voice_barge_in_min_speech_ms``
  of speech were heard, so a click does not — counted on the detector's candidate, before the
  turn's own (longer) minimum confirms it;
- when the person pauses (``stt_pause_ms`` of silence) the words so far go to ``prepare``: the
  session starts the answer on them, silently, and speaks it only if the turn ends at that pause
  with the same words (the end silence still decides; nothing is heard before it);
- an utterance over the length limit is cut, processed, and the client told so.

Echo (the avatar's voice leaking from the speakers into the microphone) is first the browser's
job (``echoCancellation``). What is left is quiet but still speech to the voice activity
detector, so while the agent's turn runs a barge-in also needs the speech to be loud enough
(``voice_barge_in_min_level_dbfs``) and to last the minimum; an utterance that began while the
agent spoke and never qualified is dropped (``voice`` event ``ignored_echo``), not answered.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from visavis.config import Settings
from visavis.conversation import mic_frames, protocol
from visavis.conversation.services import LiveServices
from visavis.speech.listener import (
    FinalText,
    PartialText,
    TentativeText,
    TranscriptionFailed,
    VoiceListener,
)
from visavis.speech.stt.base import STTEngine
from visavis.speech.stt.finer_when_idle import FinerWhenIdle
from visavis.speech.stt.vocabulary import vocabulary_prompt
from visavis.speech.turn_model import TurnModel, TurnModelUnavailableError
from visavis.speech.vad import EndpointOptions, SpeechDetector, SpeechStarted, Utterance
from visavis.timing import ConversationClock

logger = logging.getLogger(__name__)

SAMPLE_RATE = mic_frames.MIC_SAMPLE_RATE
#: How far back stream times are mapped to the conversation clock (the longest utterance + 10 s).
ANCHOR_SPAN_S = 10.0


def refusal(hello: protocol.Hello, services: LiveServices) -> str | None:
    """Why this connection's microphone is not taken (``None``: it is)."""
    if not hello.audio_in:
        return "the client did not ask to send audio"
    if not services.settings.voice_input_enabled:
        return "voice input is switched off on this server"
    if services.stt is None:
        return "this server has no speech recognizer"
    return None


def turn_model(settings: Settings, *, end_silence_ms: int) -> TurnModel | None:
    """The audio turn model if the settings ask for it and it is installed; else ``None`` (and
    a warning if it was asked for): turns then end after the end silence alone."""
    if not settings.stt_turn_model:
        return None
    try:
        # A verdict later than the end silence is moot: the turn has ended anyway.
        return TurnModel(timeout_s=end_silence_ms / 1000)
    except TurnModelUnavailableError as exc:
        logger.warning("VISAVIS_STT_TURN_MODEL is on but %s", exc)
        return None


UserSaid = Callable[[str, int, int], Awaitable[None]]
"""``user_said(text, actual_start_ms, duration_ms)``: the person's turn."""


def open_voice_input(
    hello: protocol.Hello,
    services: LiveServices,
    *,
    clock: ConversationClock,
    send: Callable[[protocol.Message], None],
    user_said: UserSaid,
    agent_busy: Callable[[], bool],
    barge_in: Callable[[], Awaitable[bool]],
    prepare: UserSaid | None,
    end_silence_ms: int | None = None,
    vocabulary: Sequence[str] | None = None,
) -> tuple[VoiceInput | None, protocol.Message]:
    """Start hearing the connection's microphone if the client asked and the instance can;
    with ``ready``'s ``audio_in``. ``end_silence_ms`` and ``vocabulary``: the conversation's
    own (``None``: the instance's end silence; no names to expect)."""
    why_not = refusal(hello, services)
    if why_not is not None or services.stt is None:
        return None, protocol.audio_in(accepted=False, reason=why_not)
    build = services.speech_detector
    engine = services.stt
    if (
        isinstance(engine, FinerWhenIdle)
        and end_silence_ms is not None
        and end_silence_ms < services.settings.stt_end_silence_ms
    ):
        # The finer model's time budget is the instance's end silence: a shorter one leaves
        # it none, and the turn would wait for it.
        engine = engine.fast
    voice = VoiceInput(
        engine=engine,
        settings=services.settings,
        end_silence_ms=end_silence_ms,
        prompt=vocabulary_prompt(vocabulary),
        clock=clock,
        send=send,
        user_said=user_said,
        agent_busy=agent_busy,
        barge_in=barge_in,
        prepare=prepare,
        detector=build() if build is not None else None,
    )
    voice.start()
    return voice, protocol.audio_in(accepted=True, end_silence_ms=voice.end_silence_ms)


class VoiceInput:
    """Hears one connection's microphone; ``aclose`` is idempotent."""

    def __init__(
        self,
        *,
        engine: STTEngine,
        settings: Settings,
        clock: ConversationClock,
        send: Callable[[protocol.Message], None],
        user_said: UserSaid,
        agent_busy: Callable[[], bool],
        barge_in: Callable[[], Awaitable[bool]],
        prepare: UserSaid | None = None,
        detector: SpeechDetector | None = None,
        end_silence_ms: int | None = None,
        prompt: str | None = None,
    ) -> None:
        pause_ms = settings.stt_pause_ms
        #: The silence that ends a turn: the conversation's own, else the instance's.
        self.end_silence_ms = end_silence_ms or settings.stt_end_silence_ms
        options = EndpointOptions(
            threshold=settings.stt_vad_threshold,
            release_threshold=min(0.35, settings.stt_vad_threshold),
            end_silence_ms=self.end_silence_ms,
            min_speech_ms=settings.stt_min_speech_ms,
            max_utterance_s=settings.stt_max_utterance_s,
            pause_ms=pause_ms if prepare and 0 < pause_ms < self.end_silence_ms else None,
        )
        finished_ms = settings.stt_finished_end_silence_ms
        self.listener = VoiceListener(
            engine,
            options,
            prompt=prompt,
            detector=detector,
            finished_end_ms=finished_ms if options.pause_ms and finished_ms else None,
            turn_model=(
                turn_model(settings, end_silence_ms=self.end_silence_ms)
                if options.pause_ms
                else None
            ),
            turn_model_end_ms=settings.stt_turn_model_end_silence_ms,
            turn_model_threshold=settings.stt_turn_model_threshold,
        )
        self.min_barge_in_ms = settings.voice_barge_in_min_speech_ms
        self.min_barge_in_s = self.min_barge_in_ms / 1000
        self.min_barge_in_level = 10 ** (settings.voice_barge_in_min_level_dbfs / 20)
        self.clock = clock
        self._send = send
        self._user_said = user_said
        self._agent_busy = agent_busy
        self._barge_in = barge_in
        self._prepare = prepare
        self.gate = mic_frames.MicRateGate()
        self._samples = 0
        # (samples pushed so far, conversation ms when they arrived), oldest first
        self._anchors: deque[tuple[int, int]] = deque()
        # (samples pushed so far, sum of squares of that frame) over the last second
        self._energy: deque[tuple[int, float]] = deque()
        self._barged_onset: float | None = None  # the onset of the speech that interrupted
        self._during_agent = False  # this utterance began while the agent's turn ran
        self._task: asyncio.Task[None] | None = None
        self._interrupts: set[asyncio.Task[None]] = set()
        self._closed = False

    def start(self) -> None:
        """Start hearing (the events run on a task of their own)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="voice-input")

    def push(self, frame: mic_frames.MicFrame, now_s: float) -> None:
        """One microphone frame received at ``now_s`` (loop seconds); ``ProtocolError`` if it
        comes too fast (it is dropped, the conversation goes on)."""
        if self._closed:
            return
        self.gate.admit(frame, now_s)
        self._samples += len(frame.pcm)
        self._anchors.append((self._samples, self.clock.ms()))
        horizon = self._samples - int(
            (self.listener.endpointer.options.max_utterance_s + ANCHOR_SPAN_S) * SAMPLE_RATE
        )
        while self._anchors and self._anchors[0][0] < horizon:
            self._anchors.popleft()
        samples = frame.pcm.astype(np.float64) / 32768
        self._energy.append((self._samples, float(np.dot(samples, samples))))
        while self._energy and self._energy[0][0] < self._samples - SAMPLE_RATE:
            self._energy.popleft()
        self.listener.push(frame.pcm)
        self._check_barge_in()

    def end_of_audio(self) -> None:
        """The microphone stopped (push-to-talk released): the utterance under way ends."""
        self.listener.end_of_audio()

    def conversation_ms(self, stream_s: float) -> int:
        """The conversation time of a moment on the stream's clock (seconds of audio pushed)."""
        sample = int(stream_s * SAMPLE_RATE)
        if not self._anchors:
            return self.clock.ms()
        keys = [count for count, _ in self._anchors]
        index = min(bisect.bisect_left(keys, sample), len(keys) - 1)
        count, at_ms = self._anchors[index]
        return at_ms - round((count - sample) * 1000 / SAMPLE_RATE)

    def level(self, seconds: float) -> float:
        """The RMS level (0..1) of the last ``seconds`` of audio heard."""
        since = self._samples - int(seconds * SAMPLE_RATE)
        total, count, previous = 0.0, 0, since
        for end, energy in self._energy:
            if end > since:
                total += energy
                count += end - max(previous, since)
            previous = end
        return math.sqrt(total / count) if count else 0.0

    def _check_barge_in(self) -> None:
        candidate = self.listener.endpointer.candidate
        if candidate is None or candidate[0] == self._barged_onset:
            return
        onset, voiced_ms = candidate
        if voiced_ms < self.min_barge_in_ms or not self._agent_busy():
            return
        # Quiet speech while the agent talks is most likely its own voice from the speakers:
        # keep listening, it interrupts once it is loud enough.
        if self.level(max(self.min_barge_in_s, 0.1)) < self.min_barge_in_level:
            return
        self._barged_onset = onset
        task = asyncio.get_running_loop().create_task(self._interrupt())
        self._interrupts.add(task)
        task.add_done_callback(self._interrupts.discard)

    async def _interrupt(self) -> None:
        if await self._barge_in():
            self._send(
                protocol.voice(
                    event="barge_in", message="you spoke: the agent stopped", at_ms=self.clock.ms()
                )
            )

    async def _run(self) -> None:
        async for event in self.listener.events():
            try:
                await self._on(event)
            except Exception:  # one bad event must not deafen the conversation
                logger.exception("voice input event failed")

    async def _on(self, event: object) -> None:
        match event:
            case SpeechStarted(onset=onset):
                self._during_agent = self._agent_busy() or onset == self._barged_onset
                self._send(
                    protocol.voice(
                        event="speech_started",
                        message="speech heard",
                        at_ms=self.conversation_ms(onset),
                    )
                )
            case PartialText(transcript=transcript, start=start):
                if transcript.text.strip():
                    self._send(
                        protocol.user_partial(
                            text=transcript.text.strip(), start_ms=self.conversation_ms(start)
                        )
                    )
            case TentativeText(transcript=transcript, pause=pause):
                text = transcript.text.strip()
                if self._prepare is not None and text and not self._echo(pause.onset):
                    start_ms = self.conversation_ms(pause.onset)
                    duration_ms = max(0, self.conversation_ms(pause.speech_end) - start_ms)
                    await self._prepare(text[: protocol.MAX_USER_TEXT], start_ms, duration_ms)
            case FinalText(transcript=transcript, utterance=utterance):
                self._send(
                    protocol.voice(
                        event="speech_ended",
                        message="end of turn heard",
                        at_ms=self.conversation_ms(utterance.ended_at),
                    )
                )
                await self._final(transcript.text.strip(), utterance)
            case TranscriptionFailed(error=error):
                self._send(
                    protocol.voice(
                        event="transcription_failed",
                        message=f"what you said could not be transcribed: {error.message}",
                        at_ms=self.clock.ms(),
                    )
                )

    def _echo(self, onset: float) -> bool:
        """Whether the speech that began at ``onset`` is taken for the agent's own voice: it
        began while the agent spoke and never qualified to interrupt it."""
        return self._during_agent and onset != self._barged_onset

    async def _final(self, text: str, utterance: Utterance) -> None:
        onset, speech_end, cut = utterance.onset, utterance.speech_end, utterance.cut
        at_ms = self.clock.ms()
        if self._echo(onset):
            self._send(
                protocol.voice(
                    event="ignored_echo",
                    message="speech too short to interrupt the agent was ignored",
                    at_ms=at_ms,
                )
            )
            return
        if not text:
            self._send(protocol.voice(event="nothing_heard", message="no words heard", at_ms=at_ms))
            return
        if cut:
            limit = self.listener.endpointer.options.max_utterance_s
            self._send(
                protocol.voice(
                    event="utterance_cut",
                    message=f"you spoke over {limit:g} s: what you said so far is answered",
                    at_ms=at_ms,
                )
            )
        start_ms = self.conversation_ms(onset)
        duration_ms = max(0, self.conversation_ms(speech_end) - start_ms)
        await self._user_said(text[: protocol.MAX_USER_TEXT], start_ms, duration_ms)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._interrupts):
            task.cancel()
        await self.listener.aclose()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=5)
            if not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task})
