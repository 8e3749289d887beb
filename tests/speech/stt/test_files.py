"""A whole recording's speech in pieces: stretches between pauses, joined back up to 28 s so
each word is heard with the sentences around it, then split back into a segment per stretch;
times on the recording's timeline."""

from __future__ import annotations

import numpy as np
import pytest

from tests.speech.stt.conftest import piper_speech, word_errors
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.files import speech_pieces, speech_stretches, transcribe_pieces
from visavis.speech.stt.whisper import FasterWhisperEngine

RATE = 16000
SAID = [
    "I led the migration of our billing system.",
    "It took us six months and we finished on time.",
    "The hardest part was moving the old invoices.",
]


def _recording(gap_s: float) -> tuple[np.ndarray, list[float]]:
    """The sentences with ``gap_s`` of silence after each, and where each sentence starts."""
    parts, starts, at = [], [], 0
    for text in SAID:
        speech = piper_speech(text)
        starts.append(at / RATE)
        parts += [speech, np.zeros(int(gap_s * RATE), np.int16)]
        at += len(speech) + int(gap_s * RATE)
    return np.concatenate(parts), starts


def test_stretches_are_joined_into_pieces_that_fit() -> None:
    pcm, starts = _recording(gap_s=1.0)
    stretches = speech_stretches(pcm)
    assert len(stretches) == 3  # a second of silence ends a stretch
    (whole,) = speech_pieces(pcm)  # about 12 s: one piece, the pauses included
    assert whole.start == stretches[0].start
    first = round(whole.start * RATE)
    assert np.array_equal(whole.pcm, pcm[first : first + len(whole.pcm)])
    assert whole.end == pytest.approx(stretches[2].start + len(stretches[2].pcm) / RATE)
    # A break in each pause between two sentences.
    assert len(whole.breaks) == 2
    for sentence, pause in enumerate(whole.breaks, start=1):
        assert starts[sentence] - 1.0 < pause < starts[sentence]
    # With room for two sentences only, the third starts a piece of its own.
    two = stretches[1].start + len(stretches[1].pcm) / RATE
    pieces = speech_pieces(pcm, max_piece_s=two - stretches[0].start + 0.01)
    assert len(pieces) == 2 and len(pieces[0].breaks) == 1 and pieces[1].breaks == ()
    assert pieces[1].start == stretches[2].start


def test_silence_has_no_pieces() -> None:
    assert speech_pieces(np.zeros(3 * RATE, np.int16)) == []


async def test_one_decode_a_segment_per_stretch() -> None:
    pcm, starts = _recording(gap_s=1.0)
    engine = FasterWhisperEngine(scheduler=DeadlineScheduler(1))
    decodes = 0

    def counted(_piece: object) -> None:
        nonlocal decodes
        decodes += 1

    transcript = await transcribe_pieces(engine, pcm, speech_pieces(pcm), on_piece=counted)
    await engine.aclose()
    assert decodes == 1
    assert len(transcript.segments) == 3
    errors = [word_errors(said, s.text) for said, s in zip(SAID, transcript.segments, strict=True)]
    assert sum(errors) <= 2, transcript.text
    for segment, start in zip(transcript.segments, starts, strict=True):
        assert start - 0.2 < segment.start < start + 0.6  # on the recording's timeline
        assert " ".join(w.text.strip() for w in segment.words) == segment.text
