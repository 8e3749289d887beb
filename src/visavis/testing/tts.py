"""A fake voice: deterministic audio with exact phone timings, at a chosen speed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from visavis.speech.tts.base import AudioChunk, PhoneTiming, TTSEngine, check_options

#: A phone per letter, cycling through shapes that open and close the mouth.
_PHONES = ("AA", "M", "IY", "F", "OW", "S", "UW", "L")


class FakeTTS(TTSEngine):
    """Speaks ``seconds_per_char`` of tone per character; synthesis takes
    ``seconds_per_char / realtime_factor`` (virtual time, under the test kit's loop).

    Each word is one burst of tone with its own phones, words separated by short silences, so
    lip-sync and the partial-word accounting of interruptions see real structure. ``fail_on``
    raises the given error for texts containing that substring.
    """

    name = "fake"
    native_sample_rate = 24000

    def __init__(
        self,
        *,
        seconds_per_char: float = 0.06,
        realtime_factor: float = 20.0,
        fail_on: dict[str, Exception] | None = None,
    ) -> None:
        self.seconds_per_char = seconds_per_char
        self.realtime_factor = realtime_factor
        self.fail_on = dict(fail_on or {})
        self.spoken: list[str] = []
        self.closed = False

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        check_options(text, sample_rate, rate, pitch)
        for fragment, error in self.fail_on.items():
            if fragment in text:
                raise error
        rate_hz = sample_rate or self.native_sample_rate
        pcm, phones = self._render(text, rate_hz, rate)
        await asyncio.sleep(len(pcm) / rate_hz / self.realtime_factor)
        self.spoken.append(text)
        yield AudioChunk(pcm=pcm, sample_rate=rate_hz, text=text, phones=tuple(phones))

    def _render(
        self, text: str, sample_rate: int, rate: float
    ) -> tuple[np.ndarray, list[PhoneTiming]]:
        per_char = self.seconds_per_char / rate
        gap_s = per_char
        pieces: list[np.ndarray] = []
        phones: list[PhoneTiming] = []
        at = 0.0
        for word in text.split():
            length = max(1, len(word)) * per_char
            samples = int(length * sample_rate)
            t = np.arange(samples) / sample_rate
            pieces.append((np.sin(2 * np.pi * 180 * t) * 8000).astype(np.int16))
            step = length / max(1, len(word))
            for index in range(max(1, len(word))):
                phone = _PHONES[(len(phones) + index) % len(_PHONES)]
                phones.append(PhoneTiming(phone, at + index * step, at + (index + 1) * step))
            at += samples / sample_rate
            silence = int(gap_s * sample_rate)
            pieces.append(np.zeros(silence, dtype=np.int16))
            phones.append(PhoneTiming("SIL", at, at + silence / sample_rate))
            at += silence / sample_rate
        pcm = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
        return pcm, phones

    async def aclose(self) -> None:
        self.closed = True
