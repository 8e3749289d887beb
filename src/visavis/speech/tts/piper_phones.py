"""Piper's phone timings: its per-id frame counts become timed phones, cut with the audio.

Piper's graph gives each phoneme id a whole number of decoder frames (``piper_graph``); these
helpers group them into phonemes, turn them into ARPAbet-like phones with times, cut them where
the audio is cut, and move each P/B to its burst (``visavis.speech.bursts``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from visavis.speech.audio import Pcm
from visavis.speech.bursts import stops_at_burst
from visavis.speech.phones import (
    SIL,
    ipa_token_spans,
    is_ipa_mark,
    is_pause_mark,
    merge_pauses,
    timed_phones,
)
from visavis.speech.tts.base import PhoneTiming

PIPER_CONTROL = {"^", "$", "_"}
_STRESS = {"ˈ", "ˌ"}
_TIME_EPSILON = 1e-6  # seconds: spans shorter than this are float noise at a cut


def phoneme_samples(
    config: Any, phonemes: Sequence[str], frames_per_id: Any, hop: int
) -> list[tuple[str, int]]:
    """(phoneme, samples) for the sentence's phonemes, as Piper groups their ids; [] if unknown.

    Piper's ``phonemes_to_ids`` puts a pad after every symbol. Each phoneme here owns its ids
    and the pad *before* it: the pad's frames already sound like the phone that follows. An
    independent aligner (pocketsphinx's en-us model, ``bench/phone_timings.py``) puts Piper's
    phone starts a median 10-11 ms before these boundaries, as it does on eSpeak's, festival's
    and flite's exact timings (3-19 ms); with the pad given to the phone before, 31-36 ms.
    """
    from piper.const import BOS, EOS, PAD

    if frames_per_id is None:
        return []
    id_map = config.phoneme_id_map
    pad = len(id_map.get(PAD, []))
    groups = [(BOS, len(id_map.get(BOS, [])))]
    groups += [(p, pad + len(id_map[p])) for p in phonemes if p in id_map]
    groups.append((EOS, pad + len(id_map.get(EOS, []))))
    if sum(n for _, n in groups) != len(frames_per_id):
        return []
    bounds = np.concatenate([[0], np.cumsum([n for _, n in groups])])
    frames = np.concatenate([[0], np.cumsum(frames_per_id)])
    return [
        (symbol, int(frames[bounds[i + 1]] - frames[bounds[i]]) * hop)
        for i, (symbol, _) in enumerate(groups)
    ]


def first_cut(timing: Sequence[tuple[str, int]], frames: float, hop: int) -> tuple[int, int]:
    """(frame, words): the first word break at least ``frames`` in, leaving a word after it.

    (0, 0) when there is none.
    """
    clock, words = 0, 0
    for index, (symbol, samples) in enumerate(timing):
        clock += samples
        if symbol != " ":
            continue
        words += 1
        if clock >= frames * hop and any(s not in PIPER_CONTROL for s, _ in timing[index + 1 :]):
            return clock // hop, words
    return 0, 0


def timed_chunk_phones(
    pcm: Pcm, rate: int, phones: Sequence[PhoneTiming] | None, at_bursts: bool
) -> tuple[PhoneTiming, ...] | None:
    """A chunk's phones, each P/B moved to its burst in ``pcm`` if ``at_bursts``."""
    if phones is None:
        return None
    return stops_at_burst(pcm, rate, phones) if at_bursts else tuple(phones)


def clip_phones(
    phones: Sequence[PhoneTiming] | None, start: float, end: float, offset: float
) -> list[PhoneTiming] | None:
    """The phones inside ``start``–``end``, clipped, on a clock that starts at ``offset``."""
    if phones is None:
        return None
    return [
        PhoneTiming(p.phone, max(p.start, start) - start + offset, min(p.end, end) - start + offset)
        for p in phones
        if min(p.end, end) - max(p.start, start) > _TIME_EPSILON
    ]


def alignments_to_phones(
    alignments: Sequence[tuple[str, int]], sample_rate: int, total_samples: int
) -> tuple[PhoneTiming, ...] | None:
    """Piper's (phoneme, samples) pairs to phone timings.

    Stress marks' time goes to the phone after them (it sounds like the stressed vowel);
    length marks, spaces and pads go to the phone before.
    """
    if not alignments:
        return None
    units: list[tuple[str, float, float]] = []  # symbol, start, end
    clock = 0.0
    pending: float | None = None  # start of a stress mark's time, owed to the next phone
    for symbol, samples in alignments:
        start, clock = clock, clock + samples / sample_rate
        if symbol in _STRESS:
            # The stress mark's frames already sound like the stressed vowel that follows.
            pending = start if pending is None else pending
        elif symbol in PIPER_CONTROL or is_pause_mark(symbol):
            units.append((SIL, pending if pending is not None else start, clock))
            pending = None
        elif is_ipa_mark(symbol) and units:
            name, first, _ = units[-1]
            units[-1] = (name, first, clock)
        elif not is_ipa_mark(symbol):
            units.append((symbol, pending if pending is not None else start, clock))
            pending = None
    if pending is not None and units:
        name, first, _ = units[-1]
        units[-1] = (name, first, clock)
    timings: list[PhoneTiming] = []
    for group in _symbol_groups(units):
        if group[0][0] == SIL:
            timings.append(PhoneTiming(SIL, group[0][1], group[-1][2]))
            continue
        symbols = [unit[0] for unit in group]
        for lo, hi, phones in ipa_token_spans(symbols):
            timings.extend(timed_phones(phones, group[lo][1], group[hi - 1][2]))
    duration = total_samples / sample_rate
    clipped = [PhoneTiming(t.phone, min(t.start, duration), min(t.end, duration)) for t in timings]
    return tuple(merge_pauses(clipped))


def _symbol_groups(
    units: Sequence[tuple[str, float, float]],
) -> Iterator[list[tuple[str, float, float]]]:
    """Runs of speech symbols separated by pauses (each pause its own group)."""
    group: list[tuple[str, float, float]] = []
    for unit in units:
        if unit[0] == SIL:
            if group:
                yield group
                group = []
            yield [unit]
        else:
            group.append(unit)
    if group:
        yield group
