"""Animation rules: timed phones become mouth cues (coarticulation, closures, pauses, tweens).

One backward pass finds the vowel each consonant leads into; one forward pass lays out
segments, each starting ``lead`` seconds before its phone (the mouth may lead the sound, never
lag), closing the lips over each M and before each P/B release; a last pass joins equal
neighbours, merges too-short cues and inserts a tween between distant shapes. Plain Python
over small tuples: cheap enough to add well under a percent to eSpeak's own synthesis time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from visavis.speech.lipsync.rules import LONG_AH, PREFERRED, SHORT_ER, phone_viseme
from visavis.speech.lipsync.track import MouthCue
from visavis.speech.phones import CONSONANTS, SIL, VOWELS
from visavis.speech.tts.base import PhoneTiming

_TWEENS = {("D", "A"): "C", ("A", "D"): "C", ("D", "F"): "E", ("F", "D"): "E"}
_TWEEN_ENDS = "ADF"
_SIL, _VOWEL, _VARIABLE_VOWEL, _RELEASE, _NASAL_CLOSED, _CONSONANT = range(6)
# Shapes a consonant may take (Rhubarb's rules); the vowel it leads into wins when allowed.
_ALLOWED = {
    "T": "BF", "D": "BF", "K": "BCEFH", "G": "BCEFH", "CH": "BF", "JH": "BF", "TH": "BF",
    "DH": "BF", "S": "BF", "Z": "BF", "SH": "BF", "ZH": "BF", "F": "G", "V": "G",
    "HH": "ABCDEFGH", "N": "BCFH", "NG": "BCEF", "L": "H", "R": "BEF", "Y": "BCF", "W": "F",
}  # fmt: skip
# Vowels whose first shape depends on their length: (short, long, threshold).
_BY_LENGTH = {"AH": ("C", "D", LONG_AH), "AY": ("C", "D", LONG_AH), "AW": ("C", "D", LONG_AH)}
_VARIABLE = frozenset({"AH", "AY", "AW", "ER"})


@dataclass(frozen=True, slots=True)
class AnimationOptions:
    """Tunable timing of the animation (seconds).

    ``closure``: how long the lips are shut before a P/B release that follows speech;
    ``pause_closure``: the same after a pause, where it takes nothing from a sound.
    """

    lead: float = 0.01
    # Short on purpose: the silent closure belongs to the phone before the release in every
    # voice's timings (Piper's once ``speech.bursts`` has moved its P/B to the burst), so each
    # 10 ms here is taken from that (often open) vowel; fast speech has little vowel to give.
    closure: float = 0.015
    pause_closure: float = 0.06
    hold_pause: float = 0.12
    min_cue: float = 0.04
    tween: float = 0.03

    def __post_init__(self) -> None:
        if not 0 <= self.lead <= 0.03:
            raise ValueError("lead must be within 0-30 ms (the mouth may lead, never lag)")
        if min(self.closure, self.pause_closure, self.hold_pause, self.min_cue, self.tween) < 0:
            raise ValueError("durations must not be negative")


_DEFAULTS = AnimationOptions()


def _entry(phone: str) -> tuple[int, str, str | None, str, str]:
    """(kind, first shape, second shape, viseme, shapes allowed to a consonant) of a phone."""
    first, second = PREFERRED.get(phone, ("B", None))
    if phone == SIL:
        return _SIL, "X", None, "sil", ""
    if phone in VOWELS:
        kind = _VARIABLE_VOWEL if phone in _VARIABLE else _VOWEL
        return kind, first, second, phone_viseme(phone), ""
    if phone in ("P", "B"):
        return _RELEASE, "B", None, "PP", ""
    if phone == "M":
        return _NASAL_CLOSED, "A", None, "PP", ""
    if phone in CONSONANTS:
        return _CONSONANT, first, None, phone_viseme(phone), _ALLOWED.get(phone, "BCF")
    return _CONSONANT, "B", None, "E", "BCF"


_TABLE = {phone: _entry(phone) for phone in (*VOWELS, *CONSONANTS, SIL)}
_cue = tuple.__new__  # builds a MouthCue without the keyword handling of its constructor
_UNKNOWN = _entry("?")


def animate_phones(
    phones: Sequence[PhoneTiming],
    duration: float,
    options: AnimationOptions | None = None,
) -> tuple[MouthCue, ...]:
    """Mouth cues covering ``[0, duration]`` for timed phones (gaps count as pauses)."""
    opts = options or _DEFAULTS
    if phones and phones[0][1] == 0.0 and abs(phones[-1][2] - duration) < 1e-3:
        timeline: Sequence[tuple[str, float, float]] = phones  # engines give contiguous phones
    else:
        timeline = _contiguous(phones, duration)
    starts, shapes, visemes = _segments(timeline, opts)
    return _finish(starts, shapes, visemes, duration, opts)


def _contiguous(phones: Sequence[PhoneTiming], duration: float) -> list[tuple[str, float, float]]:
    out: list[tuple[str, float, float]] = []
    clock = 0.0
    last = ""
    for phone, start, end in phones:
        if start < clock:
            start = clock
        if end > duration:
            end = duration
        if end <= start:
            continue
        if start - clock > 1e-4:
            if last == SIL:
                out[-1] = (SIL, out[-1][1], start)
            else:
                out.append((SIL, clock, start))
                last = SIL
        if phone == SIL and last == SIL:
            out[-1] = (SIL, out[-1][1], end)
        else:
            out.append((phone, start, end))
            last = phone
        clock = end
    if duration - clock > 1e-4 or not out:
        if last == SIL:
            out[-1] = (SIL, out[-1][1], duration)
        else:
            out.append((SIL, clock, duration))
    return out


def _segments(
    timeline: Sequence[tuple[str, float, float]], opts: AnimationOptions
) -> tuple[list[float], list[str], list[str]]:
    table = _TABLE
    unknown = _UNKNOWN
    count = len(timeline)
    entries = [table.get(item[0], unknown) for item in timeline]
    # Backward pass: the first shape of the vowel each phone leads into (within 3 phones).
    ahead_of: list[str | None] = [None] * count
    ahead: str | None = None
    distance = 9
    for i in range(count - 1, -1, -1):
        if distance <= 3:
            ahead_of[i] = ahead
        entry = entries[i]
        kind = entry[0]
        if kind == _VOWEL:
            ahead = entry[1]
            distance = 1
        elif kind == _VARIABLE_VOWEL:
            phone, start, end = timeline[i]
            ahead = _vowel_first(phone, end - start)
            distance = 1
        elif kind == _SIL:
            distance = 9
        else:
            distance += 1
    lead, hold, closure_max = opts.lead, opts.hold_pause, opts.closure
    pause_closure = opts.pause_closure
    starts: list[float] = []
    shapes: list[str] = []
    visemes: list[str] = []
    last = count - 1
    previous = "X"
    for i in range(count):
        phone, start, end = timeline[i]
        kind, first, second, viseme, allowed = entries[i]
        at = start - lead
        if kind == _VOWEL:
            if phone == "AX" and (previous == "B" or previous == "C"):
                first = previous
        elif kind == _VARIABLE_VOWEL:
            first = _vowel_first(phone, end - start)
        elif kind == _CONSONANT:
            candidate = ahead_of[i]
            if candidate is None or candidate not in allowed:
                candidate = previous if previous in allowed else first
                if candidate not in allowed:
                    candidate = allowed[0]
            first = candidate
            if phone == "HH" and i < last and entries[i + 1][0] != _SIL:
                viseme = entries[i + 1][3]
        elif kind == _SIL:
            if 0 < i < last and end - start < hold and previous != "X":
                continue  # a short pause holds the shape
        elif kind == _RELEASE:
            closure = closure_max
            if i == 0 or entries[i - 1][0] == _SIL:
                # After a real pause (not a held one) the lips may close early: no sound is cut.
                before = timeline[i - 1] if i else None
                if before is None or i == 1 or before[2] - before[1] >= hold:
                    closure = pause_closure
            closed_at = start - closure
            while starts and starts[-1] >= closed_at:
                starts.pop()
                shapes.pop()
                visemes.pop()
            starts.append(closed_at)
            shapes.append("A")
            visemes.append("PP")
            first = ahead_of[i] or "B"
            if i < last and entries[i + 1][0] != _SIL:
                viseme = entries[i + 1][3]
            at = start
        else:
            at = start  # closing early for M would cut into the vowel before
        while starts and starts[-1] >= at:
            starts.pop()
            shapes.pop()
            visemes.pop()
        if not shapes or shapes[-1] != first or second is not None:
            starts.append(at)
            shapes.append(first)
            visemes.append(viseme)
        if second is not None:
            starts.append((start + end) * 0.5 - lead)
            shapes.append(second)
            visemes.append(viseme)
            previous = second
        else:
            previous = first
    return starts, shapes, visemes


def _vowel_first(phone: str, length: float) -> str:
    by_length = _BY_LENGTH.get(phone)
    if by_length is not None:
        return by_length[1] if length >= by_length[2] else by_length[0]
    if phone == "ER" and length < SHORT_ER:
        return "C"
    return _TABLE[phone][1]


def _finish(
    starts: list[float],
    shapes: list[str],
    visemes: list[str],
    duration: float,
    opts: AnimationOptions,
) -> tuple[MouthCue, ...]:
    # One pass: clamp, let a segment replace one starting at the same time, join equal
    # neighbours, and give too-short cues (not closures) to the cue before.
    min_cue = opts.min_cue
    if not starts:
        return (MouthCue(0.0, duration, "X", "sil"),)
    kept: list[list[Any]] = [[0.0, shapes[0], visemes[0]]]
    last = kept[0]
    for at, shape, viseme in zip(starts, shapes, visemes, strict=True):
        if at > duration:
            at = duration
        if at <= last[0]:
            last[1] = shape
            last[2] = viseme
            if len(kept) > 1 and kept[-2][1] == shape:
                kept.pop()
                last = kept[-1]
            continue
        if last[1] == shape:
            continue
        if at - last[0] < min_cue and last[1] != "A" and len(kept) > 1 and kept[-2][1] != "A":
            if kept[-2][1] == "X" and shape != "X":
                # Leaving rest: the next shape comes early rather than the mouth opening late.
                last[1] = shape
                last[2] = viseme
                continue
            kept.pop()
            last = kept[-1]
            if last[1] == shape:
                continue
        last = [at, shape, viseme]
        kept.append(last)
    kept.append([duration, "", ""])
    tween = opts.tween
    out: list[MouthCue] = []
    previous = ""
    for (start, shape, viseme), following in zip(kept, kept[1:], strict=False):
        end = following[0]
        if shape in _TWEEN_ENDS and previous in _TWEEN_ENDS and tween > 0:
            mid = _TWEENS.get((previous, shape))
            if mid is not None:
                before = out[-1]
                if before[2] != "A" and before[1] - before[0] >= 3 * tween:
                    out[-1] = _cue(MouthCue, (before[0], before[1] - tween, before[2], before[3]))
                    out.append(_cue(MouthCue, (before[1] - tween, before[1], mid, before[3])))
                elif shape != "A" and end - start >= 3 * tween:
                    out.append(_cue(MouthCue, (start, start + tween, mid, viseme)))
                    start += tween
        previous = shape
        out.append(_cue(MouthCue, (start, end, shape, viseme)))
    return tuple(out)
