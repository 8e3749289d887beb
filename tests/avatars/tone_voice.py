"""A voice for provider tests: a tone as long as the text would take to say, no model needed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from visavis.speech.errors import UnspeakableTextError
from visavis.speech.tts.base import AudioChunk, TTSEngine


class ToneVoice(TTSEngine):
    """``ms_per_char`` of a 220 Hz tone per character, in chunks of at most ``chunk_s``."""

    name = "tone"
    native_sample_rate = 22050

    def __init__(self, *, ms_per_char: float = 60.0, chunk_s: float = 0.4) -> None:
        self.ms_per_char = ms_per_char
        self.chunk_s = chunk_s

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        if not text.strip():
            raise UnspeakableTextError("nothing to say")
        sr = sample_rate or self.native_sample_rate
        total = round(len(text) * self.ms_per_char / 1000 * sr / rate)
        t = np.arange(total) / sr
        pcm = (np.sin(2 * np.pi * 220 * pitch * t) * 8000).astype(np.int16)
        step = max(1, round(self.chunk_s * sr))
        for start in range(0, total, step):
            piece = pcm[start : start + step]
            yield AudioChunk(pcm=piece, sample_rate=sr, text=text, continued=start + step < total)

    async def aclose(self) -> None:
        """Nothing held."""
