"""eSpeak NG voice: fast formant synthesis with the exact timing of every phoneme."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from visavis.speech.audio import resample
from visavis.speech.phones import SIL, ipa_to_phones, merge_pauses, timed_phones
from visavis.speech.tts.base import (
    AudioChunk,
    PhoneTiming,
    TTSEngine,
    check_options,
    split_sentences,
)
from visavis.speech.tts.espeak_binding import LIBRARY_NAME, EspeakLibrary, espeak_library


class EspeakEngine(TTSEngine):
    """A ``TTSEngine`` on Debian's libespeak-ng; every chunk carries exact phone timings."""

    name = "espeak"

    def __init__(self, *, voice: str = "en-us", library_name: str = LIBRARY_NAME) -> None:
        self.voice = voice
        self._library_name = library_name
        self.native_sample_rate = 22050
        self._closed = False

    def _library(self) -> EspeakLibrary:
        return espeak_library(self._library_name)

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        """Yield one chunk per sentence, with its phones (times relative to the chunk).

        ``first_chunk_s`` is not needed: eSpeak speaks a sentence in a few milliseconds.
        """
        check_options(text, sample_rate, rate, pitch)
        for sentence in split_sentences(text):
            yield await asyncio.to_thread(
                self.synthesize_sentence, sentence, sample_rate, rate, pitch
            )

    def synthesize_sentence(
        self, sentence: str, sample_rate: int | None = None, rate: float = 1.0, pitch: float = 1.0
    ) -> AudioChunk:
        """Speak one sentence synchronously (blocking; call from a worker thread)."""
        library = self._library()
        result = library.synthesize(sentence, voice=self.voice, rate=rate, pitch=pitch)
        phones = events_to_phones(result.events, result.sample_rate, len(result.pcm))
        pcm = result.pcm
        out_rate = sample_rate or result.sample_rate
        if out_rate != result.sample_rate:
            pcm = resample(pcm, result.sample_rate, out_rate)
        return AudioChunk(pcm=pcm, sample_rate=out_rate, text=sentence, phones=phones)

    async def aclose(self) -> None:
        """Nothing to release: the library is shared by the process."""
        self._closed = True


def events_to_phones(
    events: Sequence[tuple[int, str]], sample_rate: int, total_samples: int
) -> tuple[PhoneTiming, ...]:
    """Turn eSpeak phoneme events (sample index, IPA name) into contiguous phone timings."""
    duration = total_samples / sample_rate
    timings: list[PhoneTiming] = []
    ordered = sorted(events, key=lambda event: event[0])
    if not ordered or ordered[0][0] > 0:
        first = ordered[0][0] / sample_rate if ordered else duration
        timings.append(PhoneTiming(SIL, 0.0, min(first, duration)))
    for index, (sample, name) in enumerate(ordered):
        start = min(sample / sample_rate, duration)
        end = ordered[index + 1][0] / sample_rate if index + 1 < len(ordered) else duration
        end = min(end, duration)
        phones = ipa_to_phones(name) if name else [SIL]
        timings.extend(timed_phones(phones or [SIL], start, end))
    return tuple(merge_pauses(timings))
