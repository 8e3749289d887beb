"""The speech-to-text interface: engines transcribe utterances; streams push audio and yield
partial and final transcripts with word times.

Audio is always mono PCM16 at 16 kHz (``SAMPLE_RATE``); times are seconds from the first
sample given to the stream (or to ``transcribe``).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000

Pcm16 = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class Word:
    """One recognized word and when it was said (seconds)."""

    text: str
    start: float
    end: float
    probability: float | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of speech the engine decoded as one piece (a sentence or so)."""

    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said in ``duration`` seconds of audio; ``final`` once the utterance ended.

    A partial transcript may still change; a final one will not. ``words`` is empty when the
    engine does not time words (``STTEngine.word_times`` says so).
    """

    text: str
    segments: tuple[Segment, ...]
    duration: float
    final: bool
    language: str = "en"
    decode_s: float = field(default=0.0, compare=False)

    @property
    def words(self) -> tuple[Word, ...]:
        """Every word of every segment, in order."""
        return tuple(word for segment in self.segments for word in segment.words)

    @classmethod
    def of_segments(
        cls, segments: list[Segment], *, duration: float, final: bool, language: str = "en"
    ) -> Transcript:
        """A transcript whose text joins its segments' texts."""
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        return cls(text, tuple(segments), duration, final, language)


class STTStream(abc.ABC):
    """One utterance (or one conversation's microphone) being transcribed as it arrives."""

    @abc.abstractmethod
    def push_audio(self, pcm: Pcm16) -> None:
        """Append mono PCM16 16 kHz samples; never blocks (decoding happens elsewhere)."""

    @abc.abstractmethod
    def transcripts(self) -> AsyncIterator[Transcript]:
        """Partial transcripts as they change, then the final one; ends after the final."""

    @abc.abstractmethod
    async def finish(self) -> Transcript:
        """End the utterance: decode everything pushed, most urgently, and return the final."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop all work of this stream; idempotent."""


class RecognitionObserver(Protocol):
    """Told, per decode, how many seconds of speech took how many seconds to recognize."""

    def recognized(self, *, engine: str, audio_s: float, compute_s: float) -> None: ...


class STTEngine(abc.ABC):
    """A recognizer, loaded once per process and shared by every stream and request."""

    name: str
    word_times: bool
    """Whether transcripts carry word times."""
    observer: RecognitionObserver | None = None
    """Told of every decode (partials, finals, files): the instance's metrics."""
    takes_prompt: bool = False
    """Whether a ``prompt`` guides the decoding (engines that cannot take one ignore it)."""

    def _observe(self, audio_s: float, compute_s: float) -> None:
        if self.observer is not None:
            self.observer.recognized(engine=self.name, audio_s=audio_s, compute_s=compute_s)

    @property
    def loaded(self) -> bool:
        """Whether the first decode can start at once (a remote engine has nothing to load)."""
        return True

    def check_language(self, language: str | None) -> str | None:
        """The language to decode ``language`` as; ``UnsupportedLanguageError`` for one the
        engine does not know. By default as given (a remote engine's server decides)."""
        return language

    async def load(self) -> None:  # noqa: B027 - engines with nothing to load keep the default
        """Load what decoding needs now, so the first person who speaks does not wait for it."""

    @abc.abstractmethod
    def stream(self, *, language: str | None = None, prompt: str | None = None) -> STTStream:
        """A new streaming session (partials as configured, then a final); ``prompt`` as for
        ``transcribe``, for every decode of the stream."""

    @abc.abstractmethod
    async def transcribe(
        self,
        pcm: Pcm16,
        *,
        language: str | None = None,
        deadline: float | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        """The final transcript of a whole recording.

        ``deadline`` is the ``loop.time()`` instant the result is needed by (default now):
        the earliest deadline decodes first when decodes queue. ``prompt`` (OpenAI's): text
        the audio is likely to share — names and terms to spell, or what was said before —
        which steers the words and their spelling, not what is heard.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the model and everything started; idempotent."""
