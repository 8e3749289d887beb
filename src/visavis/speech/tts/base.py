"""The text-to-speech interface: engines stream one or more audio chunks per sentence."""

from __future__ import annotations

import abc
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from visavis.speech.errors import UnspeakableTextError

MAX_TEXT_CHARS = 100_000
SENTENCE_MAX_CHARS = 400
ALLOWED_OUTPUT_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)

# Western marks end a sentence before a space; full-width (CJK) marks end it by themselves.
_SENTENCE_END = re.compile(r"(?<=[.!?;…])[\"'”’)\]]*\s+|(?<=[。！？；])[」』）]*\s*|\n\s*\n")
_SPEAKABLE = re.compile(r"\w", re.UNICODE)


class PhoneTiming(NamedTuple):
    """One phone of speech: ARPAbet-like name (``SIL`` for a pause), times in seconds."""

    phone: str
    start: float
    end: float


@dataclass(frozen=True)
class AudioChunk:
    """Mono int16 audio of one sentence (or part of one), with exact phone timings if known.

    ``phones`` times are in seconds relative to the start of this chunk. ``continued``: the
    next chunk carries more of the same sentence, its audio following without a break.
    """

    pcm: npt.NDArray[np.int16]
    sample_rate: int
    text: str
    phones: tuple[PhoneTiming, ...] | None = None
    continued: bool = False

    @property
    def duration(self) -> float:
        """Length of the chunk in seconds."""
        return len(self.pcm) / self.sample_rate


class TTSEngine(abc.ABC):
    """A voice. ``synthesize`` streams chunks sentence by sentence; safe to share."""

    name: str
    native_sample_rate: int

    @abc.abstractmethod
    def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        """Yield audio chunks (at ``sample_rate``, default native) for ``text``.

        ``rate`` scales the speaking speed (0.25–4), ``pitch`` the voice pitch (0.5–2).
        ``first_chunk_s``: someone is waiting; an engine that can split a sentence's audio
        yields the first words (about that many seconds) as a chunk of their own, sooner.
        Raises ``UnspeakableTextError`` when the text holds nothing to say.
        """

    def ready(
        self, text: str, *, sample_rate: int | None = None, rate: float = 1.0, pitch: float = 1.0
    ) -> tuple[AudioChunk, ...] | None:
        """What ``synthesize`` would yield for ``text``, if it can be had now without work (an
        identical synthesis kept by a cache): it then needs no synthesis slot. None (the
        default) when the engine has to work for it."""
        return None

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release what the engine holds; idempotent."""


def check_options(text: str, sample_rate: int | None, rate: float, pitch: float) -> None:
    """Validate the common ``synthesize`` arguments; raise a typed error a person can fix."""
    if not isinstance(text, str) or not _SPEAKABLE.search(text):
        raise UnspeakableTextError("the text has nothing to say (no letters or digits)")
    if len(text) > MAX_TEXT_CHARS:
        raise UnspeakableTextError(f"the text is longer than {MAX_TEXT_CHARS} characters")
    if sample_rate is not None and sample_rate not in ALLOWED_OUTPUT_RATES:
        raise UnspeakableTextError(
            f"sample rate {sample_rate} is not supported (use one of {ALLOWED_OUTPUT_RATES})"
        )
    if not 0.25 <= rate <= 4.0:
        raise UnspeakableTextError(f"rate {rate} is outside 0.25-4")
    if not 0.5 <= pitch <= 2.0:
        raise UnspeakableTextError(f"pitch {pitch} is outside 0.5-2")


def split_sentences(text: str, *, max_chars: int = SENTENCE_MAX_CHARS) -> Iterator[str]:
    """Split text into speakable sentences, lazily; over-long ones are cut at word boundaries
    (or, in scripts without spaces, at ``max_chars``)."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        yield from _bounded(text[start : match.end()], max_chars)
        start = match.end()
    yield from _bounded(text[start:], max_chars)


def _bounded(sentence: str, max_chars: int = SENTENCE_MAX_CHARS) -> Iterator[str]:
    sentence = " ".join(sentence.split())
    if not _SPEAKABLE.search(sentence):
        return
    while len(sentence) > max_chars:
        cut = sentence.rfind(" ", 0, max_chars)
        cut = cut if cut > max_chars // 2 else max_chars
        head, sentence = sentence[:cut].strip(), sentence[cut:].strip()
        if _SPEAKABLE.search(head):
            yield head
    if _SPEAKABLE.search(sentence):
        yield sentence


_QUIET_LEVEL = 0.01  # -40 dB under the chunk's peak
_KEPT_TAIL_S = 0.06


def trim_trailing_quiet(chunk: AudioChunk, keep: float = _KEPT_TAIL_S) -> AudioChunk:
    """The chunk without its quiet tail (beyond ``keep`` seconds after the last sound)."""
    level = np.abs(chunk.pcm.astype(np.int32))
    pcm = chunk.pcm
    loud = np.flatnonzero(level > _QUIET_LEVEL * max(1, int(level.max())))
    if len(loud) == 0:
        return chunk
    end = min(len(pcm), int(loud[-1]) + 1 + int(keep * chunk.sample_rate))
    if end >= len(pcm):
        return chunk
    duration = end / chunk.sample_rate
    phones = None
    if chunk.phones is not None:
        phones = tuple(
            PhoneTiming(p.phone, p.start, min(p.end, duration))
            for p in chunk.phones
            if p.start < duration
        )
    return AudioChunk(pcm=pcm[:end], sample_rate=chunk.sample_rate, text=chunk.text, phones=phones)
