"""Transcribe a whole recording of any length, a piece at a time (so progress can be shown).

The voice activity detector finds the stretches of speech between pauses; consecutive
stretches are joined back into pieces of up to 28 s, each decoded at once, because Whisper
hears a word better with the sentences around it (``bench/stt_long.py``: a third fewer word
errors than decoding each stretch alone, and less CPU). The words are then split back at the
pauses, so a transcript still has a segment per stretch of speech (a subtitle per stretch),
times on the recording's timeline.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from visavis.speech.stt.base import SAMPLE_RATE, Pcm16, Segment, STTEngine, Transcript, Word
from visavis.speech.vad import Endpointer, EndpointOptions, Utterance

PIECE_MAX_S = 28.0  # within Whisper's 30 s window


@dataclass(frozen=True, slots=True)
class Piece:
    """Up to ``PIECE_MAX_S`` of a recording, decoded at once; times on its timeline."""

    pcm: Pcm16 = field(repr=False)
    start: float
    breaks: tuple[float, ...] = ()
    """The middle of each pause between two of its stretches of speech."""

    @property
    def end(self) -> float:
        return self.start + len(self.pcm) / SAMPLE_RATE


def speech_stretches(pcm: Pcm16, *, max_piece_s: float = PIECE_MAX_S) -> list[Utterance]:
    """``pcm``'s stretches of speech between pauses of 500 ms or more, none longer than
    ``max_piece_s`` (blocking)."""
    endpointer = Endpointer(EndpointOptions(end_silence_ms=500, max_utterance_s=max_piece_s))
    events = [*endpointer.push(pcm), *endpointer.flush()]
    return [e for e in events if isinstance(e, Utterance)]


def speech_pieces(pcm: Pcm16, *, max_piece_s: float = PIECE_MAX_S) -> list[Piece]:
    """``pcm``'s speech in pieces of up to ``max_piece_s``: its stretches of speech, each
    joined with those after it (and the pauses between) while they fit (blocking)."""
    pieces: list[Piece] = []
    for stretch in speech_stretches(pcm, max_piece_s=max_piece_s):
        end = stretch.start + len(stretch.pcm) / SAMPLE_RATE
        last = pieces[-1] if pieces else None
        if last is None or end - last.start > max_piece_s:
            pieces.append(Piece(stretch.pcm, stretch.start))
            continue
        first = round(last.start * SAMPLE_RATE)
        pause = (last.end + stretch.start) / 2 if stretch.start > last.end else stretch.start
        pieces[-1] = Piece(
            pcm[first : first + round((end - last.start) * SAMPLE_RATE)],
            last.start,
            (*last.breaks, pause),
        )
    return pieces


async def each_piece(
    engine: STTEngine,
    pieces: list[Piece],
    *,
    language: str | None = None,
    prompt: str | None = None,
    slack_s: float | None = None,
) -> AsyncIterator[tuple[Piece, Transcript]]:
    """Each of ``pieces`` with its transcript, in turn: times on the recording's timeline, a
    segment per stretch of speech (where the engine times its words).

    ``slack_s``: each decode is due that long after its piece's duration from now (batch
    work yields to more urgent decodes); None asks for it at once.
    """
    loop = asyncio.get_running_loop()
    for piece in pieces:
        due = None if slack_s is None else slack_s + len(piece.pcm) / SAMPLE_RATE
        deadline = None if due is None else loop.time() + due
        part = await engine.transcribe(
            piece.pcm, language=language, prompt=prompt, deadline=deadline
        )
        shifted = [_shift(s, piece.start) for s in part.segments]
        split = tuple(s for segment in shifted for s in _split(segment, piece.breaks))
        yield piece, dataclasses.replace(part, segments=split)


async def transcribe_pieces(
    engine: STTEngine,
    pcm: Pcm16,
    pieces: list[Piece],
    *,
    language: str | None = None,
    prompt: str | None = None,
    on_piece: Callable[[Piece], None] | None = None,
    slack_s: float | None = None,
) -> Transcript:
    """One final transcript of ``pcm`` from its speech ``pieces``; ``prompt`` (names and
    terms to spell) is given to every piece; ``slack_s`` as for ``each_piece``."""
    segments: list[Segment] = []
    decode_s = 0.0
    parts = each_piece(engine, pieces, language=language, prompt=prompt, slack_s=slack_s)
    async for piece, part in parts:
        decode_s += part.decode_s
        segments += part.segments
        if on_piece is not None:
            on_piece(piece)
    language_code = language or "en"
    transcript = Transcript.of_segments(
        segments, duration=len(pcm) / SAMPLE_RATE, final=True, language=language_code
    )
    return dataclasses.replace(transcript, decode_s=decode_s)


def _shift(segment: Segment, by: float) -> Segment:
    words = tuple(Word(w.text, w.start + by, w.end + by, w.probability) for w in segment.words)
    return Segment(segment.text, segment.start + by, segment.end + by, words)


def _split(segment: Segment, breaks: tuple[float, ...]) -> list[Segment]:
    """``segment`` cut at the pauses that fall among its words (a word belongs to the side
    its middle is on)."""
    if not segment.words or not breaks:
        return [segment]
    groups: list[list[Word]] = [[]]
    cuts = iter(sorted(breaks))
    cut = next(cuts, None)
    for word in segment.words:
        while cut is not None and (word.start + word.end) / 2 > cut:
            if groups[-1]:
                groups.append([])
            cut = next(cuts, None)
        groups[-1].append(word)
    if len(groups) == 1:
        return [segment]
    return [
        Segment(
            " ".join(w.text.strip() for w in group), group[0].start, group[-1].end, tuple(group)
        )
        for group in groups
    ]
