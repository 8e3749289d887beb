"""A stream that buffers the utterance and re-decodes it for partials, then once for the final.

Whisper-like models decode whole stretches of audio, not frames, so a partial is the decode of
everything heard so far. Partials are less urgent than any final (their deadline lies one
interval ahead), never run two at a time for one stream, and are skipped while the previous is
still decoding — so a busy machine sends fewer partials, never later finals.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np

from visavis.speech.stt.base import SAMPLE_RATE, Pcm16, Segment, STTStream, Transcript, Word
from visavis.speech.stt.errors import STTStreamClosedError

DecodeFn = Callable[[Pcm16, bool, float], Awaitable[Transcript]]
"""``decode(pcm, final, deadline)``: the transcript of ``pcm``, decoded when a slot is free."""


class BufferedSTTStream(STTStream):
    """Partials every ``partial_interval_s`` of new audio (``None``: finals only).

    Partials decode at most the last ``partial_window_s`` seconds (times stay relative to the
    stream's start); the final decodes everything.
    """

    def __init__(
        self,
        decode: DecodeFn,
        *,
        partial_interval_s: float | None,
        partial_window_s: float = 20.0,
    ) -> None:
        if partial_interval_s is not None and partial_interval_s <= 0:
            raise ValueError("partial_interval_s must be positive (or None for no partials)")
        self._decode = decode
        self._interval = (
            None if partial_interval_s is None else int(partial_interval_s * SAMPLE_RATE)
        )
        self._window = int(partial_window_s * SAMPLE_RATE)
        self._pieces: list[Pcm16] = []
        self._samples = 0
        self._partial_from = 0  # samples covered when the last partial started
        self._partial: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[Transcript | BaseException | None] = asyncio.Queue()
        self._last_text = ""
        self._final: Transcript | None = None
        self._ended = False

    @property
    def duration(self) -> float:
        """Seconds of audio pushed so far."""
        return self._samples / SAMPLE_RATE

    def push_audio(self, pcm: Pcm16) -> None:
        if self._ended:
            raise STTStreamClosedError("the stream is finished: start a new one for new speech")
        samples = np.asarray(pcm).ravel()
        if samples.dtype != np.int16:
            raise TypeError(f"push PCM16 samples (int16), not {samples.dtype}")
        if len(samples) == 0:
            return
        self._pieces.append(samples)
        self._samples += len(samples)
        due = self._interval is not None and self._samples - self._partial_from >= self._interval
        if due and (self._partial is None or self._partial.done()):
            self._partial_from = self._samples
            self._partial = asyncio.create_task(self._run_partial(), name="stt-partial")

    def _audio(self) -> Pcm16:
        if len(self._pieces) > 1:
            self._pieces = [np.concatenate(self._pieces)]
        return self._pieces[0] if self._pieces else np.zeros(0, np.int16)

    async def _run_partial(self) -> None:
        audio = self._audio()
        offset = max(0, len(audio) - self._window)
        loop = asyncio.get_running_loop()
        interval_s = (self._interval or 0) / SAMPLE_RATE
        try:
            transcript = await self._decode(audio[offset:], False, loop.time() + interval_s)
        except Exception as exc:  # handed to the reader of transcripts(), which raises it
            self._queue.put_nowait(exc)
            return
        if offset:
            seconds = offset / SAMPLE_RATE
            moved = shifted(transcript, seconds)
            transcript = dataclasses.replace(moved, duration=transcript.duration + seconds)
        if not self._ended and transcript.text and transcript.text != self._last_text:
            self._last_text = transcript.text
            self._queue.put_nowait(transcript)

    async def transcripts(self) -> AsyncIterator[Transcript]:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def finish(self) -> Transcript:
        if self._final is not None:
            return self._final
        if self._ended:
            raise STTStreamClosedError("the stream was closed before it was finished")
        self._ended = True
        await self._stop_partial()
        try:
            final = await self._decode(self._audio(), True, asyncio.get_running_loop().time())
        except BaseException:
            self._queue.put_nowait(None)
            raise
        self._final = final
        self._queue.put_nowait(final)
        self._queue.put_nowait(None)
        return final

    async def aclose(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)
        await self._stop_partial()

    async def _stop_partial(self) -> None:
        task, self._partial = self._partial, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})


def shifted(transcript: Transcript, by: float) -> Transcript:
    """The same transcript with every time ``by`` seconds later."""
    segments = tuple(
        Segment(
            s.text,
            s.start + by,
            s.end + by,
            tuple(Word(w.text, w.start + by, w.end + by, w.probability) for w in s.words),
        )
        for s in transcript.segments
    )
    return dataclasses.replace(transcript, segments=segments)
