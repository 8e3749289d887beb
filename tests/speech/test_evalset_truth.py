"""The lip-sync benchmark's truth: a silent closure before a P/B is timed as the closure."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import speech_evalset as ev  # noqa: E402
from visavis.speech.tts.base import PhoneTiming  # noqa: E402

RATE = 16000


def _tone(seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def test_the_silent_end_of_a_vowel_before_a_release_becomes_the_closure() -> None:
    # A vowel that sounds for 100 ms, then 40 ms of closure timed as part of it, then the P.
    pcm = np.concatenate([_tone(0.1), _silence(0.04), _tone(0.06, 3000.0), _tone(0.2)])
    phones = [
        PhoneTiming("AE", 0.0, 0.14),
        PhoneTiming("P", 0.14, 0.2),
        PhoneTiming("AH", 0.2, 0.4),
    ]
    truth = ev.split_silent_closures(pcm, RATE, phones)
    assert [p.phone for p in truth] == ["AE", "CL", "P", "AH"]
    assert truth[0].end == truth[1].start
    assert abs(truth[1].start - 0.1) < 0.006 and abs(truth[1].end - 0.14) < 1e-9


def test_a_vowel_that_sounds_to_the_release_keeps_all_its_frames() -> None:
    pcm = np.concatenate([_tone(0.14), _tone(0.06, 3000.0), _tone(0.2)])
    phones = [
        PhoneTiming("AE", 0.0, 0.14),
        PhoneTiming("P", 0.14, 0.2),
        PhoneTiming("AH", 0.2, 0.4),
    ]
    assert ev.split_silent_closures(pcm, RATE, phones) == phones


def test_a_closure_is_at_most_a_tenth_of_a_second_and_stops_never_become_closures() -> None:
    # 300 ms of silence inside the M before a B: the M stays (it is itself a closure).
    pcm = np.concatenate([_tone(0.1), _silence(0.3), _tone(0.1, 3000.0), _tone(0.2)])
    with_m = [PhoneTiming("M", 0.0, 0.4), PhoneTiming("B", 0.4, 0.5), PhoneTiming("AH", 0.5, 0.7)]
    assert ev.split_silent_closures(pcm, RATE, with_m) == with_m
    with_vowel = [PhoneTiming("AA", 0.0, 0.4)] + with_m[1:]
    truth = ev.split_silent_closures(pcm, RATE, with_vowel)
    assert [p.phone for p in truth] == ["AA", "CL", "B", "AH"]
    assert abs(truth[1].start - 0.3) < 0.006
