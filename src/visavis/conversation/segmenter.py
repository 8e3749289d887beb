"""Streaming sentence detection over an agent's deltas, and byte-limited chunking.

A boundary is decided only once the first character after it (past closing quotes,
spaces and opening quotes) has arrived, and the decision depends on the text alone: any
split of the same text into deltas yields the same sentences. ``$29.99``, ``3.5``,
``Dr. Smith``, ``e.g. this``, ``U.S.`` and URLs do not end a sentence.
``reply_sentences`` follows a whole streamed reply: every delta, every sentence (a pause in
the stream releases the pending fragment), then the end of the reply.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from visavis.timing import Clock, MonotonicClock

#: Terminators that end a sentence only when whitespace follows (Latin-like scripts).
SPACED_TERMINATORS = ".!?;…\u037e"
#: Terminators that end a sentence even with no space after them (CJK and other scripts).
TIGHT_TERMINATORS = (
    "。！？；｡．"  # CJK, full and half width
    "\u0964\u0965"  # Devanagari danda, double danda
    "\u061f\u06d4\u061b"  # Arabic question mark, Urdu full stop, Arabic semicolon
    "\u0589"  # Armenian full stop
    "\u1362\u1367\u1368"  # Ethiopic full stop, question mark, paragraph separator
    "\u104b\u17d4\u17d5\u0f0d"  # Myanmar, Khmer, Tibetan
    "\u203c\u2047\u2048\u2049"  # double punctuation marks
)
#: Closing quotes and brackets that stay with the sentence they follow.
CLOSERS = "\"'”’»›)]}」』）】〕〉》〗"
#: Opening quotes and brackets skipped when looking at the next word.
OPENERS = "\"'“‘«‹([{¿¡「『（【〔〈《〖"

#: Words that end with a period without ending the sentence (lower case, no final dot).
# fmt: off
DEFAULT_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "approx", "dept",
    "est", "inc", "ltd", "co", "corp", "bros", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri",
    "sat", "sun", "gen", "col", "lt", "sgt", "capt", "cmdr", "rev", "hon", "gov", "sen", "rep",
    "pres", "fig", "cf", "al", "ca", "resp", "ph.d", "univ", "assn", "ave", "blvd",
})
#: Abbreviations that precede a number ("No. 5", "p. 12", "Vol. 3").
NUMBER_ABBREVIATIONS = frozenset({
    "no", "nos", "nr", "vol", "vols", "p", "pp", "ch", "sec", "art", "op", "fig", "figs", "eq",
})
# fmt: on

_CANDIDATE = re.compile(rf"[{re.escape(SPACED_TERMINATORS + TIGHT_TERMINATORS)}]+|\n")
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")  # "U.S", "e.g", "J"
_SOFT_BREAK = re.compile(r"[,:;\u2013\u2014]\s|[\u3001\uff0c]|\s")
_SPLIT = "split"
_KEEP = "keep"
_WAIT = "wait"


class SentenceSegmenter:
    """Turns a stream of text deltas into sentences ready to be spoken.

    ``push`` returns the sentences completed by a delta; ``flush`` returns what is left
    (call it when the reply ends, or when the stream pauses). Fragments shorter than
    ``min_chars`` merge with the next sentence; a sentence growing past ``max_chars``
    without a boundary is cut at a clause or word break (a latency guard, not a limit).
    """

    def __init__(
        self,
        *,
        min_chars: int = 8,
        max_chars: int = 300,
        abbreviations: Iterable[str] | None = None,
    ) -> None:
        if min_chars < 0 or max_chars < max(min_chars, 16):
            raise ValueError("need 0 <= min_chars and max_chars >= max(min_chars, 16)")
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.abbreviations = (
            DEFAULT_ABBREVIATIONS
            if abbreviations is None
            else frozenset(a.lower().rstrip(".") for a in abbreviations)
        )
        self._buffer = ""

    @property
    def pending(self) -> str:
        """Text received but not yet returned as a sentence."""
        return self._buffer

    def push(self, delta: str) -> list[str]:
        """Add a delta; return the sentences it completed (stripped, in order)."""
        self._buffer += delta
        sentences: list[str] = []
        while (end := self._first_sentence_end(self._buffer)) is not None:
            sentence = self._buffer[:end].strip()
            self._buffer = self._buffer[end:]
            if sentence:
                sentences.append(sentence)
        return sentences

    def flush(self) -> list[str]:
        """Return the pending text as a last sentence (if any) and start afresh."""
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []

    def clear(self) -> None:
        """Drop the pending text (the reply was interrupted)."""
        self._buffer = ""

    def _first_sentence_end(self, text: str) -> int | None:
        """Where the first complete sentence of ``text`` ends; None while undecided."""
        position = 0
        while True:
            match = _CANDIDATE.search(text, position)
            if match is None or match.start() >= self.max_chars:
                if len(text) > self.max_chars:
                    return _forced_cut(text[: self.max_chars + 1])
                return None
            verdict, end = self._decide(text, match)
            if verdict == _WAIT:
                return None
            if verdict == _SPLIT and len(text[:end].strip()) >= self.min_chars:
                return end
            position = match.end()

    def _decide(self, text: str, match: re.Match[str]) -> tuple[str, int]:
        """Whether the candidate ``match`` ends a sentence, and where that sentence ends."""
        if match.group() == "\n":
            if not text[: match.start()].strip():
                return _KEEP, 0
            if _next_word_start(text, match.end()) is None:
                return _WAIT, 0
            return _SPLIT, match.start()
        run = match.group()
        end = match.end()
        while end < len(text) and text[end] in CLOSERS:
            end += 1
        tight = any(c in TIGHT_TERMINATORS for c in run)
        if end == len(text):
            return _WAIT, 0
        if not tight and not text[end].isspace():
            return _KEEP, 0  # "3.5", "e.g.this", "example.com/"
        following = _next_word_start(text, end)
        if following is None:
            return _WAIT, 0
        if tight or ";" in run or "\u037e" in run:
            return _SPLIT, end
        next_char = text[following]
        if next_char.islower():
            return _KEEP, 0
        if run == "." and self._is_abbreviation(_word_before(text, match.start()), next_char):
            return _KEEP, 0
        return _SPLIT, end

    def _is_abbreviation(self, word: str, next_char: str) -> bool:
        lowered = word.lower()
        if lowered in self.abbreviations or _INITIALS.fullmatch(word):
            return True
        return lowered in NUMBER_ABBREVIATIONS and next_char.isdigit()


def _next_word_start(text: str, start: int) -> int | None:
    """Index of the first character after ``start`` that is neither space nor an opener."""
    index = start
    while index < len(text) and (text[index].isspace() or text[index] in OPENERS):
        index += 1
    return index if index < len(text) else None


def _word_before(text: str, end: int) -> str:
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end].lstrip(OPENERS)


def _forced_cut(window: str) -> int:
    """Where to cut a sentence that is too long: last clause break, else last space."""
    limit = len(window) - 1
    breaks = [m for m in _SOFT_BREAK.finditer(window) if 0 < m.end() <= limit]
    clauses = [m.end() for m in breaks if not m.group().isspace()]
    if clauses and clauses[-1] > limit // 2:
        return clauses[-1]
    if breaks:
        return breaks[-1].end()
    return _cluster_safe_cut(window, limit)


def _cluster_safe_cut(text: str, index: int) -> int:
    """``index`` moved back so that no grapheme cluster is cut (kept > 0)."""
    while index > 1 and _extends_cluster(text, index):
        index -= 1
    return index


def chunk_utf8(text: str, max_bytes: int) -> list[str]:
    """Cut ``text`` into chunks of at most ``max_bytes`` UTF-8 bytes at word boundaries.

    Whitespace inside a chunk is kept, whitespace between chunks is dropped; a word longer
    than the limit is cut between grapheme clusters (between code points only when one
    cluster alone is too long). ``max_bytes`` must be at least 4 (one code point).
    """
    if max_bytes < 4:
        raise ValueError("max_bytes must be at least 4, the size of one UTF-8 code point")
    chunks: list[str] = []
    current, current_bytes, current_end = "", 0, 0
    for word_match in re.finditer(r"\S+", text):
        word = word_match.group()
        word_bytes = len(word.encode("utf-8"))
        if current:
            gap = text[current_end : word_match.start()]
            joined = current_bytes + len(gap.encode("utf-8")) + word_bytes
            if joined <= max_bytes:
                current, current_bytes = current + gap + word, joined
                current_end = word_match.end()
                continue
            chunks.append(current)
        pieces = [word] if word_bytes <= max_bytes else _split_word(word, max_bytes)
        chunks.extend(pieces[:-1])
        current = pieces[-1]
        current_bytes, current_end = len(current.encode("utf-8")), word_match.end()
    if current:
        chunks.append(current)
    return chunks


def _split_word(word: str, max_bytes: int) -> list[str]:
    pieces: list[str] = []
    current, current_bytes = "", 0
    for cluster in _clusters(word):
        size = len(cluster.encode("utf-8"))
        # One cluster alone too big for a chunk is cut between code points.
        parts = [cluster] if size <= max_bytes else _split_word_by_code_points(cluster, max_bytes)
        for part in parts:
            part_bytes = len(part.encode("utf-8"))
            if current_bytes + part_bytes > max_bytes and current:
                pieces.append(current)
                current, current_bytes = "", 0
            current, current_bytes = current + part, current_bytes + part_bytes
    if current:
        pieces.append(current)
    return pieces


def _split_word_by_code_points(text: str, max_bytes: int) -> list[str]:
    parts: list[str] = []
    current, current_bytes = "", 0
    for char in text:
        size = len(char.encode("utf-8"))
        if current_bytes + size > max_bytes:
            parts.append(current)
            current, current_bytes = "", 0
        current, current_bytes = current + char, current_bytes + size
    if current:
        parts.append(current)
    return parts


def _clusters(text: str) -> Iterator[str]:
    """Approximate extended grapheme clusters: enough not to cut accents, emoji or flags."""
    start = 0
    for index in range(1, len(text) + 1):
        if index == len(text) or not _extends_cluster(text, index):
            yield text[start:index]
            start = index


def _extends_cluster(text: str, index: int) -> bool:
    """True when ``text[index]`` belongs to the cluster of ``text[index - 1]``."""
    char, previous = ord(text[index]), ord(text[index - 1])
    if previous == 0x200D:  # zero-width joiner: joins what follows
        return True
    if char == 0x200D or 0xFE00 <= char <= 0xFE0F or 0x1F3FB <= char <= 0x1F3FF:
        return True
    if 0xE0020 <= char <= 0xE007F or 0xE0100 <= char <= 0xE01EF:
        return True
    if unicodedata.category(text[index]) in ("Mn", "Me", "Mc"):
        return True
    if 0x1F1E6 <= char <= 0x1F1FF and 0x1F1E6 <= previous <= 0x1F1FF:
        # Regional indicators pair up into flags: join if an odd number precede.
        run = 0
        while index - run - 1 >= 0 and 0x1F1E6 <= ord(text[index - run - 1]) <= 0x1F1FF:
            run += 1
        return run % 2 == 1
    return False


# --- sentences of a streamed reply ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeltaReceived:
    """A delta from the agent, as it arrived."""

    text: str


@dataclass(frozen=True, slots=True)
class SentenceReady:
    """A sentence to speak: at a boundary, after a pause in the stream, or at the end."""

    text: str
    reason: Literal["boundary", "pause", "end"]


@dataclass(frozen=True, slots=True)
class TurnComplete:
    """The agent finished its reply (its stream ended)."""


ReplyEvent = DeltaReceived | SentenceReady | TurnComplete


async def reply_sentences(
    deltas: AsyncIterator[str],
    segmenter: SentenceSegmenter,
    *,
    pause_s: float = 0.5,
    clock: Clock | None = None,
) -> AsyncGenerator[ReplyEvent, None]:
    """Follow an agent's reply: every delta, every sentence, then ``TurnComplete``.

    When no delta comes for ``pause_s``, the pending fragment is released as a sentence
    so it can be spoken; the stream may continue afterwards. Agent errors propagate
    unchanged (the pending text stays in ``segmenter``). Closing or cancelling this
    generator cancels the pending read and closes ``deltas``.
    """
    clock = clock if clock is not None else MonotonicClock()
    iterator = aiter(deltas)
    reading: asyncio.Task[str] | None = None
    try:
        while True:
            reading = asyncio.ensure_future(anext(iterator))
            if segmenter.pending.strip() and not await _done_within(reading, pause_s, clock):
                for text in segmenter.flush():
                    yield SentenceReady(text, "pause")
            try:
                delta = await reading
            except StopAsyncIteration:
                reading = None
                break
            reading = None
            yield DeltaReceived(delta)
            for text in segmenter.push(delta):
                yield SentenceReady(text, "boundary")
        for text in segmenter.flush():
            yield SentenceReady(text, "end")
        yield TurnComplete()
    finally:
        if reading is not None and not reading.done():
            reading.cancel()
            await asyncio.wait({reading})  # never re-raises: our own cancellation survives
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()


async def _done_within(task: asyncio.Task[str], seconds: float, clock: Clock) -> bool:
    """True if ``task`` is done before ``seconds`` pass on ``clock`` (the task keeps running)."""
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        await asyncio.wait({timer})  # never re-raises: our own cancellation survives
    return task.done()
