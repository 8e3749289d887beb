"""Where a P or B is released: the burst after its silent closure, found in the audio.

A voice's phone timings do not all mark a bilabial stop the same way: eSpeak NG starts a P/B
at its burst (the silent closure belongs to the phone before, as Rhubarb and the lip-sync
reference count it), while Piper's durations start it where the closure starts, so a mouth
shut "just before the P" would shut while the vowel before it still sounds. ``stops_at_burst``
brings such timings to the first convention, from the audio itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visavis.speech.audio import Pcm
from visavis.speech.tts.base import PhoneTiming

STEP_S = 0.005
RISE_DB = 9.0  # a burst: the level 10 ms later is this much higher
KEEP_S = 0.01  # the release keeps at least this much of the phone
SHORTEST_S = 0.03  # a shorter P/B holds no closure worth finding


def burst_time(pcm: Pcm, sample_rate: int, start: float, end: float) -> float | None:
    """The burst of a P/B timed ``start``–``end`` in ``pcm``, or None if there is no clear one.

    The burst is the steepest rise of the level (over 10 ms, in 5 ms steps) from ``start``
    to 10 ms past ``end``, if it rises by ``RISE_DB`` or more; it is kept ``KEEP_S`` inside the
    phone.
    """
    if end - start < SHORTEST_S:
        return None
    step = max(1, int(STEP_S * sample_rate))
    first = max(0, int(start * sample_rate))
    last = min(len(pcm), int((end + 0.01) * sample_rate))
    frames = (last - first) // step
    if frames < 4:
        return None
    chunk = np.asarray(pcm[first : first + frames * step], dtype=np.float64) / 32768.0
    level = 10.0 * np.log10((chunk.reshape(frames, step) ** 2).mean(axis=1) + 1e-10)
    rise = level[2:] - level[:-2]
    k = int(np.argmax(rise))
    release = min(first / sample_rate + (k + 2) * step / sample_rate, end - KEEP_S)
    if rise[k] < RISE_DB or release <= start + step / sample_rate:
        return None
    return release


def stops_at_burst(
    pcm: Pcm, sample_rate: int, phones: Sequence[PhoneTiming]
) -> tuple[PhoneTiming, ...]:
    """``phones`` with each P/B starting at its burst; the closure before it goes to the phone
    before. A P/B with no clear burst, or first in the list, is left as it is."""
    out = list(phones)
    for index in range(1, len(out)):
        stop = out[index]
        if stop.phone not in ("P", "B"):
            continue
        release = burst_time(pcm, sample_rate, stop.start, stop.end)
        if release is None:
            continue
        before = out[index - 1]
        out[index - 1] = PhoneTiming(before.phone, before.start, release)
        out[index] = PhoneTiming(stop.phone, release, stop.end)
    return tuple(out)
