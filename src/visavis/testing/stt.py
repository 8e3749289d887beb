"""A fake recognizer and a fake voice activity detector for tests of voice input.

``FakeSTT`` "recognizes" tones: each phrase it knows is keyed by a frequency, and the audio's
loudest frequency picks the phrase — so a test says what the person says by the tone it plays.
``EnergyDetector`` calls a window speech when it is loud enough. Both are deterministic and,
under the test kit's virtual time, instant (``decode_s`` is virtual).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from visavis.speech.stt.base import (
    SAMPLE_RATE,
    Pcm16,
    Segment,
    STTEngine,
    STTStream,
    Transcript,
    Word,
)
from visavis.speech.stt.streaming import BufferedSTTStream

if TYPE_CHECKING:
    from visavis.speech.listener import ListenerEvent, VoiceListener

#: Seconds of audio per recognized word (for partials and word times).
WORD_S = 0.3


def tone(frequency: float, seconds: float, *, level_dbfs: float = -12.0) -> Pcm16:
    """A sine tone as PCM16 16 kHz: what the fakes hear as speech."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    amplitude = 32767 * 10 ** (level_dbfs / 20)
    return (amplitude * np.sin(2 * math.pi * frequency * t)).astype(np.int16)


def silence(seconds: float) -> Pcm16:
    return np.zeros(int(seconds * SAMPLE_RATE), np.int16)


class FakeSTT(STTEngine):
    """Knows ``phrases`` by frequency (Hz); anything else is ``unknown``. Silence is ``""``.
    A word of the phrase that a ``prompt`` spells otherwise (case aside) is spelled as there;
    ``prompts`` keeps the prompt of every decode."""

    name = "fake"
    word_times = True
    takes_prompt = True

    def __init__(
        self,
        phrases: Mapping[int, str],
        *,
        unknown: str = "something else",
        decode_s: float = 0.05,
        partial_interval_s: float | None = 0.5,
    ) -> None:
        self.phrases = dict(phrases)
        self.unknown = unknown
        self.decode_s = decode_s
        self.partial_interval_s = partial_interval_s
        self.decoded: list[Transcript] = []
        self.prompts: list[str | None] = []
        self.closed = False

    def phrase(self, pcm: Pcm16) -> str:
        """What the fake hears in ``pcm``."""
        samples = pcm.astype(np.float32) / 32768
        if len(samples) == 0 or float(np.sqrt(np.mean(samples**2))) < 0.003:
            return ""
        spectrum = np.abs(np.fft.rfft(samples))
        loudest = float(np.argmax(spectrum[1:]) + 1) * SAMPLE_RATE / len(samples)
        for frequency, text in self.phrases.items():
            if abs(frequency - loudest) <= 20:
                return text
        return self.unknown

    def stream(self, *, language: str | None = None, prompt: str | None = None) -> STTStream:
        async def decode(pcm: Pcm16, final: bool, deadline: float) -> Transcript:
            return await self._decode(pcm, final=final, prompt=prompt)

        return BufferedSTTStream(decode, partial_interval_s=self.partial_interval_s)

    async def transcribe(
        self,
        pcm: Pcm16,
        *,
        language: str | None = None,
        deadline: float | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        return await self._decode(pcm, final=True, prompt=prompt)

    async def _decode(self, pcm: Pcm16, *, final: bool, prompt: str | None) -> Transcript:
        await asyncio.sleep(self.decode_s)
        self.prompts.append(prompt)
        duration = len(pcm) / SAMPLE_RATE
        spelled = {w.strip(".,;:").lower(): w.strip(".,;:") for w in (prompt or "").split()}
        words = [spelled.get(word.lower(), word) for word in self.phrase(pcm).split()]
        if not final:
            words = words[: max(1, int(duration / WORD_S))]
        timed = tuple(Word(word, i * WORD_S, (i + 1) * WORD_S, 1.0) for i, word in enumerate(words))
        segments = [Segment(" ".join(words), 0.0, duration, timed)] if words else []
        transcript = dataclasses.replace(
            Transcript.of_segments(segments, duration=duration, final=final),
            decode_s=self.decode_s,
        )
        self.decoded.append(transcript)
        return transcript

    async def aclose(self) -> None:
        self.closed = True


class EnergyDetector:
    """Voice activity by loudness: a 32 ms window at or above ``threshold_dbfs`` is speech."""

    window = 512

    def __init__(self, *, threshold_dbfs: float = -35.0) -> None:
        self.threshold = 10 ** (threshold_dbfs / 20)

    def probability(self, frame: npt.NDArray[np.float32]) -> float:
        rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64))))
        return 1.0 if rms >= self.threshold else 0.0

    def reset(self) -> None:
        """Nothing to forget: each window is judged alone."""


async def hear_turn(
    listener: VoiceListener, audio: Pcm16, arrivals: list[float] | None = None
) -> list[ListenerEvent]:
    """Stream ``audio`` to ``listener`` in real time (20 ms frames) and collect its events
    until the first final (and when each came, in stream seconds, into ``arrivals``); then
    close the listener."""
    from visavis.speech.listener import FinalText

    events: list[ListenerEvent] = []
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def read() -> None:
        async for event in listener.events():
            events.append(event)
            if arrivals is not None:
                arrivals.append(loop.time() - started)
            if isinstance(event, FinalText):
                return

    reader = asyncio.create_task(read())
    for start in range(0, len(audio), 320):
        listener.push(audio[start : start + 320])
        await asyncio.sleep(0.02)
    await asyncio.wait_for(reader, 5)
    await listener.aclose()
    return events
