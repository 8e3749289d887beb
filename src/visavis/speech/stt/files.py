"""Transcribe a whole recording of any length: cut at pauses by the voice activity detector,
each piece decoded in turn (so progress can be shown), times kept on the file's timeline."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

from visavis.speech.stt.base import SAMPLE_RATE, Pcm16, Segment, STTEngine, Transcript, Word
from visavis.speech.vad import Endpointer, EndpointOptions, Utterance

PIECE_MAX_S = 28.0  # within Whisper's 30 s window


def speech_pieces(pcm: Pcm16, *, max_piece_s: float = PIECE_MAX_S) -> list[Utterance]:
    """The stretches of speech in ``pcm``, none longer than ``max_piece_s`` (blocking)."""
    endpointer = Endpointer(EndpointOptions(end_silence_ms=500, max_utterance_s=max_piece_s))
    return [e for e in [*endpointer.push(pcm), *endpointer.flush()] if isinstance(e, Utterance)]


async def each_piece(
    engine: STTEngine,
    pieces: list[Utterance],
    *,
    language: str | None = None,
    prompt: str | None = None,
    slack_s: float | None = None,
) -> AsyncIterator[tuple[Utterance, Transcript]]:
    """Each of ``pieces`` with its transcript, in turn, times on the recording's timeline.

    ``slack_s``: each decode is due that long after its piece's duration from now (batch
    work yields to more urgent decodes); None asks for it at once.
    """
    loop = asyncio.get_running_loop()
    for piece in pieces:
        due = slack_s + len(piece.pcm) / SAMPLE_RATE if slack_s is not None else None
        deadline = None if due is None else loop.time() + due
        part = await engine.transcribe(
            piece.pcm, language=language, prompt=prompt, deadline=deadline
        )
        shifted = tuple(_shift(s, piece.start) for s in part.segments)
        yield piece, dataclasses.replace(part, segments=shifted)


async def transcribe_pieces(
    engine: STTEngine,
    pcm: Pcm16,
    pieces: list[Utterance],
    *,
    language: str | None = None,
    prompt: str | None = None,
    on_piece: Callable[[Utterance], None] | None = None,
) -> Transcript:
    """One final transcript of ``pcm`` from its speech ``pieces``; ``prompt`` (names and
    terms to spell) is given to every piece."""
    segments: list[Segment] = []
    decode_s = 0.0
    async for piece, part in each_piece(engine, pieces, language=language, prompt=prompt):
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
