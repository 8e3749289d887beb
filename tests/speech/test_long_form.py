"""Long recordings with their dialog: aligned piece by piece, bad parts fall back alone."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

from visavis.speech.lipsync import VisemeTrack, animate
from visavis.speech.lipsync.features import cepstra_blocks, features, normalized_features
from visavis.speech.lipsync.long_form import LONG_SECONDS, MAX_PIECE, MIN_PIECE, pieces
from visavis.speech.phones import SIL
from visavis.speech.tts.base import PhoneTiming
from visavis.speech.tts.espeak import EspeakEngine

LINES = (
    "Bob bought a big map of the moon for his brother.",
    "The cat sat quietly on the warm kitchen floor.",
    "Please pass me the butter and the maple syrup.",
    "We walked along the river until the sun went down.",
    "My mother made a pumpkin pie for the party.",
    "How many apples did you put in the basket?",
    "The old clock in the hall stopped at midnight.",
    "Every morning he reads the paper with a cup of tea.",
    "She opened the window and let the cool air in.",
    "A tiny bird was singing in the apple tree.",
    "They played football in the park after school.",
    "Nobody knew where the key to the garden had gone.",
)
AD_LIB = "Zebras and xylophones vex the quick jazz ukulele players tonight, honestly."


@dataclass
class Recording:
    pcm: np.ndarray
    sentences: list[str]
    spans: list[tuple[float, float]]  # where each sentence is spoken
    phones: list[PhoneTiming]

    @property
    def duration(self) -> float:
        return len(self.pcm) / 16000


def _record(lines: list[str], seed: int) -> Recording:
    engine = EspeakEngine()
    rng = random.Random(seed)
    parts, spans, phones = [], [], []
    clock = 0.0
    for line in lines:
        chunk = engine.synthesize_sentence(line, 16000)
        gap = np.zeros(int(rng.uniform(0.3, 0.9) * 16000), dtype=np.int16)
        parts += [chunk.pcm, gap]
        # Where the voice is: eSpeak's own silence before and after a sentence is a pause.
        voiced = [p for p in chunk.phones or () if p.phone != SIL]
        spans.append((clock + voiced[0].start, clock + voiced[-1].end))
        phones += [PhoneTiming(p.phone, p.start + clock, p.end + clock) for p in chunk.phones or ()]
        clock += chunk.duration + len(gap) / 16000
    return Recording(np.concatenate(parts), list(lines), spans, phones)


@pytest.fixture(scope="module")
def recording() -> Recording:
    lines = [LINES[i % len(LINES)] for i in range(30)]
    lines[14] = AD_LIB
    return _record(lines, seed=5)


def _closure_recall(track: VisemeTrack, phones: list[PhoneTiming], lo: float, hi: float) -> float:
    closed = [c for c in track.cues if c.shape == "A"]
    wanted = [p for p in phones if p.phone in ("P", "B", "M") and lo <= p.start < hi]
    hits = sum(
        any(c.end > p.start - 0.12 and c.start < max(p.end, p.start + 0.02) for c in closed)
        for p in wanted
    )
    return hits / len(wanted)


def test_a_long_recording_aligns_with_its_whole_dialog(recording: Recording) -> None:
    assert recording.duration > LONG_SECONDS
    text = " ".join(s for s in recording.sentences if s != AD_LIB)
    ad_lib = recording.spans[recording.sentences.index(AD_LIB)]
    seen: list[float] = []
    track = animate(recording.pcm, 16000, text=text, progress=lambda d, t: seen.append(d / t))
    assert track.method == "aligned"
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and len(seen) > 3
    # Only the part holding the ad-lib fell back to the audio; the metadata says where.
    spans = track.metadata["fallback_spans"]
    assert len(spans) == 1, spans
    assert spans[0]["start"] <= ad_lib[0] + 0.5 and spans[0]["end"] >= ad_lib[1] - 0.5
    assert spans[0]["end"] - spans[0]["start"] <= MAX_PIECE / 100 + 1
    assert "does not match" in spans[0]["reason"]
    assert "1 part" in str(track.fallback_reason)
    # Elsewhere the text was used: lips close on every P/B/M before and after the ad-lib.
    assert _closure_recall(track, recording.phones, 0.0, spans[0]["start"]) >= 0.95
    assert _closure_recall(track, recording.phones, spans[0]["end"], recording.duration) >= 0.95
    cues = track.cues
    assert cues[0].start == 0.0 and cues[-1].end == pytest.approx(recording.duration)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(cues, cues[1:], strict=False))


def test_a_line_missing_from_the_audio_is_skipped_not_fatal(recording: Recording) -> None:
    sentences = [s for s in recording.sentences if s != AD_LIB]
    text = " ".join(
        [*sentences[:20], "An extra line that nobody ever says aloud.", *sentences[20:]]
    )
    text = text.replace(AD_LIB, "")
    track = animate(recording.pcm, 16000, text=text)
    assert track.method == "aligned"
    assert track.metadata["words_unmatched"] >= 8  # at least the extra line's words
    covered = sum(s["end"] - s["start"] for s in track.metadata["fallback_spans"])
    assert covered <= 2 * MAX_PIECE / 100  # the ad-lib, and at most one piece more
    assert _closure_recall(track, recording.phones, 0.0, recording.duration) >= 0.85


def test_long_audio_alone_lists_no_spans_and_rests_in_pauses(recording: Recording) -> None:
    track = animate(recording.pcm, 16000)
    assert track.method == "audio" and track.fallback_reason is None
    assert "fallback_spans" not in track.metadata
    for (_, end), (start, _) in zip(recording.spans, recording.spans[1:], strict=False):
        if start - end > 0.5:
            assert track.shape_at((start + end) / 2) == "X"


def test_pieces_cut_in_pauses_within_bounds(recording: Recording) -> None:
    _, energy = cepstra_blocks(recording.pcm, 16000)
    cut = pieces(energy)
    assert cut[0][0] == 0 and cut[-1][1] == len(energy)
    assert all(a.__getitem__(1) == b[0] for a, b in zip(cut, cut[1:], strict=False))
    assert all(end - start <= MAX_PIECE for start, end in cut)
    assert all(end - start >= MIN_PIECE // 2 for start, end in cut)
    for _, end in cut[:-1]:  # every cut lies in a pause between sentences
        assert any(
            a < end / 100 < b
            for (_, a), (b, _) in zip(recording.spans, recording.spans[1:], strict=False)
        )


def test_pieces_are_cut_even_without_pauses() -> None:
    energy = np.full(10_000, -20.0, dtype=np.float32) + np.random.default_rng(0).normal(
        0, 1, 10_000
    ).astype(np.float32)
    cut = pieces(energy)
    assert all(MIN_PIECE <= end - start <= MAX_PIECE for start, end in cut[:-1])
    assert cut[-1][1] == 10_000


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 8000])
def test_blockwise_features_match_whole_utterance_features(rate: int) -> None:
    rng = np.random.default_rng(1)
    seconds = np.arange(int(rate * 7.3)) / rate
    tone = np.sin(2 * np.pi * 300 * seconds) * (seconds % 1 < 0.6) * 8000
    pcm = (tone + rng.normal(0, 300, len(seconds))).astype(np.int16)
    whole = features(pcm, rate)
    cepstra, energy = cepstra_blocks(pcm, rate, block_frames=170)
    blocks = normalized_features(cepstra, energy, (0, len(energy)), context=10**6)
    assert blocks.shape == whole.shape
    np.testing.assert_allclose(blocks, whole, atol=2e-3)
