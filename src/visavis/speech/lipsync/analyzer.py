"""Audio-only analysis: free phone recognition (a loop over phone models), then phones."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from visavis.speech.lipsync import viterbi
from visavis.speech.lipsync.acoustic import CLOSURE, AcousticModel
from visavis.speech.lipsync.features import FRAME_SECONDS
from visavis.speech.phones import SIL
from visavis.speech.tts.base import PhoneTiming

DEFAULT_PENALTY = -12.0
CLOSURE_BONUS = 7.0
CLOSING_PHONES = frozenset({"P", "B", "M"})
LM_WEIGHT = 0.0  # the phone bigram barely helped and costs a third of the speed


def unit_names(names: tuple[str, ...]) -> list[str]:
    """Loop units in order: each phone (from its ``_0`` state), then the closure."""
    return [
        CLOSURE if name == CLOSURE else name.rsplit("_", 1)[0]
        for name in names
        if name == CLOSURE or name.endswith("_0")
    ]


@lru_cache(maxsize=4)
def _units(names: tuple[str, ...]) -> npt.NDArray[np.int32]:
    """States of each loop unit (units × 3): phones' three states, the closure's one."""
    rows: list[list[int]] = []
    for i, name in enumerate(names):
        if name == CLOSURE:
            rows.append([i, i, i])
        elif name.endswith("_0"):
            rows.append([i, i + 1, i + 2])
    return np.array(rows, dtype=np.int32)


def recognize_path(
    loglik: npt.NDArray[np.float32],
    model: AcousticModel,
    penalty: float = DEFAULT_PENALTY,
    closure_bonus: float = 0.0,
) -> viterbi.Path:
    """The best free phone-loop path over the frames scored in ``loglik``.

    ``closure_bonus`` eases entering P, B and M: a closure the recognizer misses (a mouth
    that never shuts on "mom") shows more than one it adds where a T or N was said.
    """
    transitions = None
    if model.transitions is not None and LM_WEIGHT > 0:
        transitions = model.transitions * np.float32(LM_WEIGHT)
    bonus = _closure_bonus(model.names, closure_bonus) if closure_bonus else None
    return viterbi.loop(loglik, _units(model.names), penalty, transitions, bonus)


@lru_cache(maxsize=4)
def _closure_bonus(names: tuple[str, ...], bonus: float) -> npt.NDArray[np.float32]:
    """Entry bonus per loop unit: ``bonus`` for the phones that close the lips."""
    return np.array(
        [bonus if unit in CLOSING_PHONES else 0.0 for unit in unit_names(names)], dtype=np.float32
    )


def recognize(
    loglik: npt.NDArray[np.float32],
    model: AcousticModel,
    penalty: float = DEFAULT_PENALTY,
    closure_bonus: float = CLOSURE_BONUS,
) -> list[PhoneTiming]:
    """Recognized phones with times (closures merged into the phone before them)."""
    path = recognize_path(loglik, model, penalty, closure_bonus)
    out: list[PhoneTiming] = []
    names = model.names
    start = 0
    states = path.states
    for t in range(1, len(states) + 1):
        if t < len(states) and not _new_unit(names, states[t - 1], states[t]):
            continue
        name = names[int(states[start])]
        phone = CLOSURE if name == CLOSURE else name.rsplit("_", 1)[0]
        begin, end = max(0.0, (start - 0.5) * FRAME_SECONDS), max(0.0, (t - 0.5) * FRAME_SECONDS)
        if phone == CLOSURE:
            if out:
                out[-1] = PhoneTiming(out[-1].phone, out[-1].start, end)
            else:
                out.append(PhoneTiming(SIL, begin, end))
        elif out and out[-1].phone == phone == SIL:
            out[-1] = PhoneTiming(SIL, out[-1].start, end)
        else:
            out.append(PhoneTiming(phone, begin, end))
        start = t
    return out


def _new_unit(names: tuple[str, ...], previous: np.int32, current: np.int32) -> bool:
    """True when the path enters a unit (not just the next state of the same phone)."""
    if current == previous:
        return False
    name = names[int(current)]
    return not (current == previous + 1 and not name.endswith("_0") and name != CLOSURE)
