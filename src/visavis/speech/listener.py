"""One person's microphone, heard: voice activity, end of turn and speech recognition together.

Push PCM16 16 kHz frames as they arrive (``push`` is synchronous and cheap: the voice activity
detector scores 32 ms in about 0.2 ms); read what happened from ``events()``:

- ``SpeechStarted``: confirmed speech (``onset`` on the stream's clock) — the moment to
  interrupt an agent that is speaking;
- ``PartialText``: the words so far of the utterance under way (they may still change);
- ``TentativeText``: the person paused (``EndpointOptions.pause_ms``): what they said, decoded
  before the end silence ran out — the final if the turn ends at this pause, so a caller can
  prepare the answer; ``SpeechResumed``: they went on, the tentative text is void;
- ``FinalText``: the person's turn is over (silence after speech, or the utterance was
  ``cut`` at the length limit); its words' times are on the stream's clock;
- ``TranscriptionFailed``: the turn could not be transcribed (the error says why).

At a pause the turn may end after a shorter silence than ``end_silence_ms``: where the words so
far sound finished (``finished_end_ms``, a text rule), or where they sound finished *and* the
audio turn model (``turn_model``, Smart Turn v3) judges the turn complete (``turn_model_end_ms``).
A turn model that cannot be loaded is logged once and left out: the end silence decides.

The stream's clock starts at zero with the first sample pushed: add the conversation time of
that sample to place words on the conversation's timeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from visavis.errors import VisavisError
from visavis.speech.stt.base import Pcm16, STTEngine, STTStream, Transcript
from visavis.speech.stt.streaming import shifted
from visavis.speech.turn_end import sounds_finished
from visavis.speech.turn_model import TurnModel, TurnModelUnavailableError
from visavis.speech.vad import (
    Endpointer,
    EndpointOptions,
    PauseHeard,
    SpeechDetector,
    SpeechResumed,
    SpeechStarted,
    Utterance,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartialText:
    """The words so far of the utterance that began at ``start`` (stream seconds)."""

    transcript: Transcript
    start: float


@dataclass(frozen=True, slots=True)
class FinalText:
    """A finished turn: its audio and where it lies (``utterance``) and what was said."""

    transcript: Transcript
    utterance: Utterance


@dataclass(frozen=True, slots=True)
class TentativeText:
    """What was said up to ``pause``; the turn's ``FinalText`` if it ends at this pause."""

    transcript: Transcript
    pause: PauseHeard


@dataclass(frozen=True, slots=True)
class TranscriptionFailed:
    """The turn ``utterance`` was heard but could not be transcribed."""

    utterance: Utterance
    error: VisavisError


ListenerEvent = (
    SpeechStarted | PartialText | TentativeText | SpeechResumed | FinalText | TranscriptionFailed
)


class VoiceListener:
    """Turns one microphone's audio into speech events and transcripts; ``aclose`` is
    idempotent and stops every task it started."""

    def __init__(
        self,
        engine: STTEngine,
        options: EndpointOptions | None = None,
        *,
        language: str | None = None,
        prompt: str | None = None,
        detector: SpeechDetector | None = None,
        finished_end_ms: int | None = None,
        turn_model: TurnModel | None = None,
        turn_model_end_ms: int = 300,
        turn_model_threshold: float = 0.5,
    ) -> None:
        self.engine = engine
        self.language = language
        #: Given to every decode: names and terms to spell (``stt.vocabulary``).
        self.prompt = prompt
        #: At a pause whose words sound finished (``turn_end.sounds_finished``, English), the
        #: turn ends after this much silence instead of ``end_silence_ms``; ``None``: never.
        self.finished_end_ms = finished_end_ms
        #: At a pause whose words sound finished and whose audio the model judges complete
        #: (probability at least ``turn_model_threshold``), the turn ends after
        #: ``turn_model_end_ms`` of silence; ``None``: no model.
        self.turn_model = turn_model
        self.turn_model_end_ms = turn_model_end_ms
        self.turn_model_threshold = turn_model_threshold
        self.endpointer = Endpointer(options, detector=detector)
        self._queue: asyncio.Queue[ListenerEvent | None] = asyncio.Queue()
        self._stream: STTStream | None = None
        self._forwarded = 0  # samples of the current utterance already in the stream
        # The decode of the audio up to the latest pause, while the turn may end there.
        self._guess: tuple[PauseHeard, asyncio.Task[Transcript]] | None = None
        # The turn model's verdict on the same audio (None: no model, or not English).
        self._verdict: asyncio.Task[float] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def push(self, pcm: Pcm16) -> None:
        """Hear more audio (mono PCM16, 16 kHz, any number of samples)."""
        if self._closed:
            return
        for event in self.endpointer.push(pcm):
            match event:
                case SpeechStarted():
                    self._queue.put_nowait(event)
                    self._open_stream()
                case PauseHeard():
                    self._start_guess(event)
                case SpeechResumed():
                    self._drop_guess()
                    self._queue.put_nowait(event)
                case Utterance():
                    self._end_utterance(event)
        # In silence the partials wait (the audio goes with the next words): silence adds no
        # words, and the pause's own decode (most urgent) should not share the CPU with one.
        if self._stream is not None and self.endpointer.speaking and not self.endpointer.in_silence:
            audio = self.endpointer.utterance_audio(self._forwarded)
            self._forwarded += len(audio)
            self._stream.push_audio(audio)

    def end_of_audio(self) -> None:
        """The microphone stopped for good: an utterance under way ends here."""
        for event in self.endpointer.flush():
            if isinstance(event, Utterance):
                self._end_utterance(event)

    async def events(self) -> AsyncIterator[ListenerEvent]:
        """Every event in order, until ``aclose``."""
        while (event := await self._queue.get()) is not None:
            yield event

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._drop_guess()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if self._stream is not None:
            await self._stream.aclose()
            self._stream = None
        await asyncio.gather(*tasks, return_exceptions=True)
        self._queue.put_nowait(None)

    def _open_stream(self) -> None:
        stream = self.engine.stream(language=self.language, prompt=self.prompt)
        self._stream, self._forwarded = stream, 0
        start = self.endpointer.utterance_start or 0.0
        self._spawn(self._read_partials(stream, start))

    def _start_guess(self, pause: PauseHeard) -> None:
        self._drop_guess()
        loop = asyncio.get_running_loop()
        decode = loop.create_task(
            self.engine.transcribe(pause.pcm, language=self.language, prompt=self.prompt),
            name="stt-pause",
        )
        self._guess = (pause, decode)
        verdict = None
        if self.turn_model is not None and self.language in (None, "en"):
            verdict = loop.create_task(
                self.turn_model.complete_probability(pause.pcm), name="turn-model"
            )
            verdict.add_done_callback(self._verdict_done)
        self._verdict = verdict
        self._spawn(self._report_guess(pause, decode, verdict))

    def _drop_guess(self) -> None:
        guess, self._guess = self._guess, None
        if guess is not None:
            guess[1].cancel()
        verdict, self._verdict = self._verdict, None
        if verdict is not None:
            verdict.cancel()

    async def _report_guess(
        self,
        pause: PauseHeard,
        decode: asyncio.Task[Transcript],
        verdict: asyncio.Task[float] | None,
    ) -> None:
        try:
            transcript = await asyncio.shield(decode)
        except (VisavisError, asyncio.CancelledError):
            return  # resumed, or failed: the final decodes (and reports) for itself
        if self._guess is None or self._guess[1] is not decode:
            return
        self._queue.put_nowait(TentativeText(shifted(transcript, pause.start), pause))
        english = self.language in (None, "en")
        if not (english and sounds_finished(transcript.text)):
            return
        if self.finished_end_ms:
            self.endpointer.end_pause_after(self.finished_end_ms)
        if verdict is None or not await self._judged_complete(verdict):
            return
        if self._guess is not None and self._guess[1] is decode:
            self.endpointer.end_pause_after(self.turn_model_end_ms)

    async def _judged_complete(self, verdict: asyncio.Task[float]) -> bool:
        """Whether the turn model judged the pause's audio complete (no verdict: no)."""
        try:
            return await asyncio.shield(verdict) >= self.turn_model_threshold
        except asyncio.CancelledError:
            if verdict.cancelled():
                return False  # the person went on
            raise
        except VisavisError:
            return False  # told by ``_verdict_done``

    def _verdict_done(self, verdict: asyncio.Task[float]) -> None:
        if verdict.cancelled() or (error := verdict.exception()) is None:
            return
        if isinstance(error, TurnModelUnavailableError):
            if self.turn_model is not None:
                logger.warning("no turn model, turns end after the end silence: %s", error)
                self.turn_model = None
        else:
            logger.info("the turn model gave no verdict: %s", error)

    def _end_utterance(self, utterance: Utterance) -> None:
        stream, self._stream = self._stream, None
        self._forwarded = 0
        guess, self._guess = self._guess, None
        self._verdict = None  # moot now: the turn has ended
        decode = None
        if guess is not None:
            pause, decode = guess
            # The utterance ended at the pause: its audio is the pause's, already decoding.
            if utterance.cut or (pause.start, pause.speech_end) != (
                utterance.start,
                utterance.speech_end,
            ):
                decode.cancel()
                decode = None
        self._spawn(self._finish(stream, utterance, decode))
        if self.endpointer.speaking:  # the person goes on after a cut
            self._open_stream()

    async def _read_partials(self, stream: STTStream, start: float) -> None:
        try:
            async for transcript in stream.transcripts():
                if not transcript.final:
                    self._queue.put_nowait(PartialText(shifted(transcript, start), start))
        except VisavisError:
            pass  # the final decode fails the same way and reports it

    async def _finish(
        self,
        stream: STTStream | None,
        utterance: Utterance,
        decode: asyncio.Task[Transcript] | None,
    ) -> None:
        # The final decodes the utterance itself — trimmed of the silence that ended it, so no
        # word is stretched into it — most urgently; the stream only served the partials.
        if stream is not None:
            await stream.aclose()
        try:
            if decode is not None:
                transcript = await decode
            else:
                transcript = await self.engine.transcribe(
                    utterance.pcm, language=self.language, prompt=self.prompt
                )
        except VisavisError as exc:
            self._queue.put_nowait(TranscriptionFailed(utterance, exc))
            return
        self._queue.put_nowait(FinalText(shifted(transcript, utterance.start), utterance))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
