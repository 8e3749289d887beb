"""One person's microphone, heard: voice activity, end of turn and speech recognition together.

Push PCM16 16 kHz frames as they arrive (``push`` is synchronous and cheap: the voice activity
detector scores 32 ms in about 0.2 ms); read what happened from ``events()``:

- ``SpeechStarted``: confirmed speech (``onset`` on the stream's clock) — the moment to
  interrupt an agent that is speaking;
- ``PartialText``: the words so far of the utterance under way (they may still change);
- ``FinalText``: the person's turn is over (silence after speech, or the utterance was
  ``cut`` at the length limit); its words' times are on the stream's clock;
- ``TranscriptionFailed``: the turn could not be transcribed (the error says why).

The stream's clock starts at zero with the first sample pushed: add the conversation time of
that sample to place words on the conversation's timeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from visavis.errors import VisavisError
from visavis.speech.stt.base import Pcm16, STTEngine, STTStream, Transcript
from visavis.speech.stt.streaming import shifted
from visavis.speech.vad import Endpointer, EndpointOptions, SpeechDetector, SpeechStarted, Utterance


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
class TranscriptionFailed:
    """The turn ``utterance`` was heard but could not be transcribed."""

    utterance: Utterance
    error: VisavisError


ListenerEvent = SpeechStarted | PartialText | FinalText | TranscriptionFailed


class VoiceListener:
    """Turns one microphone's audio into speech events and transcripts; ``aclose`` is
    idempotent and stops every task it started."""

    def __init__(
        self,
        engine: STTEngine,
        options: EndpointOptions | None = None,
        *,
        language: str | None = None,
        detector: SpeechDetector | None = None,
    ) -> None:
        self.engine = engine
        self.language = language
        self.endpointer = Endpointer(options, detector=detector)
        self._queue: asyncio.Queue[ListenerEvent | None] = asyncio.Queue()
        self._stream: STTStream | None = None
        self._forwarded = 0  # samples of the current utterance already in the stream
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def push(self, pcm: Pcm16) -> None:
        """Hear more audio (mono PCM16, 16 kHz, any number of samples)."""
        if self._closed:
            return
        for event in self.endpointer.push(pcm):
            if isinstance(event, SpeechStarted):
                self._queue.put_nowait(event)
                self._open_stream()
            else:
                self._end_utterance(event)
        if self._stream is not None and self.endpointer.speaking:
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
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if self._stream is not None:
            await self._stream.aclose()
            self._stream = None
        await asyncio.gather(*tasks, return_exceptions=True)
        self._queue.put_nowait(None)

    def _open_stream(self) -> None:
        stream = self.engine.stream(language=self.language)
        self._stream, self._forwarded = stream, 0
        start = self.endpointer.utterance_start or 0.0
        self._spawn(self._read_partials(stream, start))

    def _end_utterance(self, utterance: Utterance) -> None:
        stream, self._stream = self._stream, None
        self._forwarded = 0
        self._spawn(self._finish(stream, utterance))
        if self.endpointer.speaking:  # the person goes on after a cut
            self._open_stream()

    async def _read_partials(self, stream: STTStream, start: float) -> None:
        try:
            async for transcript in stream.transcripts():
                if not transcript.final:
                    self._queue.put_nowait(PartialText(shifted(transcript, start), start))
        except VisavisError:
            pass  # the final decode fails the same way and reports it

    async def _finish(self, stream: STTStream | None, utterance: Utterance) -> None:
        # The final decodes the utterance itself — trimmed of the silence that ended it, so no
        # word is stretched into it — most urgently; the stream only served the partials.
        if stream is not None:
            await stream.aclose()
        try:
            transcript = await self.engine.transcribe(utterance.pcm, language=self.language)
        except VisavisError as exc:
            self._queue.put_nowait(TranscriptionFailed(utterance, exc))
            return
        self._queue.put_nowait(FinalText(shifted(transcript, utterance.start), utterance))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
