"""The local voice: a sentence becomes audio at the client's rate plus its mouth cues."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from visavis.speech.lipsync import animate
from visavis.speech.tts.base import AudioChunk, TTSEngine, trim_trailing_quiet
from visavis.speech.tts.scheduler import SynthesisScheduler


@dataclass(frozen=True)
class SpokenAudio:
    """One piece of speech ready to play: PCM, its text, and cues on its own clock."""

    text: str
    pcm: npt.NDArray[np.int16]
    sample_rate: int
    cues: list[dict[str, Any]]
    method: str
    synthesis_s: float

    @property
    def duration_ms(self) -> int:
        return round(len(self.pcm) * 1000 / self.sample_rate)


#: Due sooner than this, a sentence's first words are synthesized on their own, first.
URGENT_S = 2.0
#: Rough speaking time of a word, to order the syntheses of one sentence's parts.
SECONDS_PER_WORD = 0.32
FIRST_WORDS = 4
#: Of those first words, about this much audio is decoded and sent before the rest of them.
FIRST_CHUNK_S = 0.3


def split_first_words(sentence: str, count: int = FIRST_WORDS) -> list[str]:
    """The first few words (up to an early comma, at least two) and the rest, if long enough."""
    words = sentence.split()
    if len(words) < count + 3:
        return [sentence]
    for index in range(1, count + 1):
        if words[index].endswith((",", ";", ":")) and index + 1 < len(words) - 1:
            return [" ".join(words[: index + 1]), " ".join(words[index + 1 :])]
    return [" ".join(words[:count]), " ".join(words[count:])]


class LocalVoice:
    """Speaks with a shared ``TTSEngine`` and animates the mouth from exact phone timings.

    Engines that know no timings get their audio aligned to the text instead.
    """

    def __init__(
        self,
        engine: TTSEngine,
        *,
        sample_rate: int,
        scheduler: SynthesisScheduler | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
    ) -> None:
        self.engine = engine
        self.scheduler = scheduler or SynthesisScheduler(slots=1)
        self.sample_rate = sample_rate
        self.rate = rate
        self.pitch = pitch

    async def speak(
        self, sentence: str, *, deadline: float | None = None
    ) -> AsyncIterator[SpokenAudio]:
        """Audio for ``sentence``, piece by piece as the engine produces it.

        ``deadline`` (a ``loop.time()`` instant) is when its audio must start playing: the
        instance's syntheses run earliest deadline first; None means now. When it is due at
        once, its first few words are synthesized on their own, beside the rest, and the
        first of them are sent before the others are decoded, so the listener hears
        something sooner.
        """
        now = asyncio.get_running_loop().time()
        due = now if deadline is None else deadline
        urgent = due - now < URGENT_S
        parts = split_first_words(sentence) if urgent else [sentence]
        jobs = []
        for part in parts:
            jobs.append(
                self.scheduler.submit(
                    self.engine,
                    part,
                    deadline=due,
                    sample_rate=self.sample_rate,
                    rate=self.rate,
                    pitch=self.pitch,
                    first_chunk_s=FIRST_CHUNK_S if urgent and part is parts[0] else None,
                )
            )
            due += len(part.split()) * SECONDS_PER_WORD
        started = time.perf_counter()
        try:
            for index, job in enumerate(jobs):
                async for chunk in job.chunks():
                    if index + 1 < len(jobs) and not chunk.continued:
                        # Mid-sentence: the voice's closing silence would be a pause nobody wrote.
                        chunk = trim_trailing_quiet(chunk)
                    synthesis_s = time.perf_counter() - started
                    track = await self._animate(chunk)
                    yield SpokenAudio(
                        text=chunk.text,
                        pcm=chunk.pcm,
                        sample_rate=chunk.sample_rate,
                        cues=track.to_compact(),
                        method=track.method,
                        synthesis_s=synthesis_s,
                    )
                    started = time.perf_counter()
        finally:
            for job in jobs:
                await job.aclose()

    async def speak_whole(self, sentence: str) -> SpokenAudio:
        """``sentence`` as one piece of audio with one track of cues."""
        pieces = [piece async for piece in self.speak(sentence)]
        if len(pieces) == 1:
            return pieces[0]
        cues: list[dict[str, Any]] = []
        offset_s = 0.0
        for piece in pieces:
            cues += [cue | {"t": round(cue["t"] + offset_s, 3)} for cue in piece.cues]
            offset_s += len(piece.pcm) / piece.sample_rate
        return SpokenAudio(
            text=sentence,
            pcm=np.concatenate([piece.pcm for piece in pieces]),
            sample_rate=pieces[0].sample_rate,
            cues=cues,
            method=pieces[0].method,
            synthesis_s=sum(piece.synthesis_s for piece in pieces),
        )

    async def _animate(self, chunk: AudioChunk) -> Any:
        if chunk.phones is not None:
            return animate(chunk.pcm, chunk.sample_rate, phones=chunk.phones)
        return await asyncio.to_thread(animate, chunk.pcm, chunk.sample_rate, text=chunk.text)
