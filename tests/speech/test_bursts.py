"""A P/B starts at its burst: the closed lips go in the silence before it, not on the vowel."""

import numpy as np
import pytest

from visavis.speech.bursts import burst_time, stops_at_burst
from visavis.speech.lipsync import animate
from visavis.speech.tts.base import PhoneTiming
from visavis.speech.tts.piper import PiperEngine

RATE = 16000


def _vowel(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (8000 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 660 * t))).astype(
        np.int16
    )


def _apa() -> tuple[np.ndarray, float, float]:
    """'a-pa': vowel, 80 ms of closure, a 15 ms burst, vowel; (pcm, closure start, burst)."""
    noise = np.random.default_rng(1).normal(0, 6000, int(0.015 * RATE)).astype(np.int16)
    pcm = np.concatenate([_vowel(0.2), np.zeros(int(0.08 * RATE), np.int16), noise, _vowel(0.2)])
    return pcm, 0.2, 0.28


def test_the_burst_is_found_after_the_closure() -> None:
    pcm, closure, burst = _apa()
    found = burst_time(pcm, RATE, closure, burst + 0.03)
    assert found == pytest.approx(burst, abs=0.006)


def test_a_stop_timed_from_its_closure_moves_to_its_burst() -> None:
    pcm, closure, burst = _apa()
    phones = [
        PhoneTiming("AA", 0.0, closure),
        PhoneTiming("P", closure, burst + 0.03),
        PhoneTiming("AA", burst + 0.03, len(pcm) / RATE),
    ]
    moved = stops_at_burst(pcm, RATE, phones)
    assert [p.phone for p in moved] == ["AA", "P", "AA"]
    assert moved[1].start == pytest.approx(burst, abs=0.006)
    assert moved[0].end == moved[1].start  # the closure went to the vowel before
    assert moved[2] == phones[2]


def test_timings_without_a_clear_burst_stay_as_they_are() -> None:
    pcm = _vowel(0.6)  # a steady sound: no closure, no burst
    phones = [PhoneTiming("AA", 0.0, 0.2), PhoneTiming("B", 0.2, 0.3), PhoneTiming("AA", 0.3, 0.6)]
    assert list(stops_at_burst(pcm, RATE, phones)) == phones
    short = [PhoneTiming("AA", 0.0, 0.2), PhoneTiming("P", 0.2, 0.22), PhoneTiming("AA", 0.22, 0.6)]
    assert list(stops_at_burst(pcm, RATE, short)) == short


def _level_db(pcm: np.ndarray, start: float, end: float) -> float:
    part = pcm[int(start * RATE) : int(end * RATE)].astype(np.float64) / 32768
    return float(10 * np.log10(np.mean(part**2) + 1e-10))


@pytest.mark.slow
def test_piper_shuts_the_lips_in_the_silence_before_each_burst() -> None:
    text = "A happy puppy began to bark at the big blue boat."
    spoken = PiperEngine(first_chunk_words=None, variation=0).synthesize_sentence(text, RATE)
    own = PiperEngine(first_chunk_words=None, variation=0, stops_at_burst=False)
    raw = own.synthesize_sentence(text, RATE)
    assert len(spoken) == len(raw) == 1 and np.array_equal(spoken[0].pcm, raw[0].pcm)
    pcm = spoken[0].pcm
    loud = _level_db(pcm, 0, len(pcm) / RATE)
    medians = []
    for chunk in (spoken[0], raw[0]):
        track = animate(pcm, RATE, phones=chunk.phones)
        shut = [c for c in track.cues if c.shape == "A"]
        assert len(shut) >= 6  # p p p b b b b: most of them
        medians.append(np.median([_level_db(pcm, c.start, c.end) - loud for c in shut]))
    at_burst, own = medians
    # Timed at the burst, the lips are shut while the voice is (nearly) silent; Piper's own
    # timings shut them earlier, partly on the vowel that still sounds.
    assert at_burst < -25
    assert at_burst < own - 8
