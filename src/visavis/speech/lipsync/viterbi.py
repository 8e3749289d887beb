"""Viterbi decoding over model states, vectorized over states (one numpy step per frame)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_NEG = np.float32(-1e30)


@dataclass(frozen=True)
class Path:
    """The best state of every frame and the path's total log score."""

    states: npt.NDArray[np.int32]
    score: float


def forced(
    emissions: npt.NDArray[np.float32],
    optional: npt.NDArray[np.bool_],
    enter: npt.NDArray[np.float32],
    start_cost: npt.NDArray[np.float32] | None = None,
    end_ok: npt.NDArray[np.bool_] | None = None,
) -> Path:
    """Best left-to-right path through a chain of states (emissions: frames × chain states).

    A state may be skipped when ``optional``; ``enter`` is the log cost of entering a state.
    By default the path starts at the first state (or an optional run after it) and ends at
    the last; ``start_cost`` (log cost of starting in each state, ``-inf`` where it may not)
    and ``end_ok`` (states it may end in) free either end, for pieces of a longer text.
    """
    frames, states = emissions.shape
    if frames < 1 or states < 1:
        raise ValueError("nothing to align")
    skippable = np.concatenate(([False], optional[:-1])).astype(bool)
    skip_cost = np.where(skippable[1:], 0.0, _NEG).astype(np.float32)
    delta = np.full(states, _NEG, dtype=np.float32)
    if start_cost is not None:
        delta = np.maximum(emissions[0] + enter + start_cost, _NEG).astype(np.float32)
    else:
        start = 0
        while True:
            delta[start] = emissions[0, start] + enter[start]
            if start + 1 >= states or not optional[start]:
                break
            start += 1
    back = np.zeros((frames, states), dtype=np.int8)
    move = np.empty(states, dtype=np.float32)
    skip = np.empty(states, dtype=np.float32)
    move[0] = skip[0] = _NEG
    if states > 1:
        skip[1] = _NEG
    for t in range(1, frames):
        move[1:] = delta[:-1] + enter[1:]
        if states > 2:
            skip[2:] = delta[:-2] + enter[2:] + skip_cost[1:]
        choice = back[t]
        better = move > delta
        best = np.where(better, move, delta)
        choice[better] = 1
        better = skip > best
        best = np.where(better, skip, best)
        choice[better] = 2
        delta = best + emissions[t]
    if end_ok is not None:
        final = int(np.argmax(np.where(end_ok, delta, _NEG)))
    else:
        end = states - 1
        candidates = [end]
        while optional[end] and end > 0:
            end -= 1
            candidates.append(end)
        final = max(candidates, key=lambda s: float(delta[s]))
    path = np.empty(frames, dtype=np.int32)
    state = final
    for t in range(frames - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    return Path(path, float(delta[final]))


def loop(
    emissions: npt.NDArray[np.float32],
    unit_states: npt.NDArray[np.int32],
    penalty: float,
    transitions: npt.NDArray[np.float32] | None = None,
    unit_bonus: npt.NDArray[np.float32] | None = None,
) -> Path:
    """Best path through a free loop of phone units, any unit after any other.

    ``unit_states`` (units × 3) names each unit's three states (columns of ``emissions``); a
    unit whose three entries are equal is a one-state unit. Entering a unit costs ``penalty``
    plus, when given, ``transitions[previous unit, unit]`` (a log bigram), minus
    ``unit_bonus[unit]`` when given (a prior for some units).
    """
    frames = emissions.shape[0]
    units = unit_states.shape[0]
    single = (unit_states[:, 0] == unit_states[:, 1]) & (unit_states[:, 1] == unit_states[:, 2])
    singles = [int(u) for u in np.flatnonzero(single)]
    # frames × states × units: each state's row contiguous, so a frame is a few whole-row ops.
    scores = np.ascontiguousarray(emissions[:, unit_states].transpose(0, 2, 1))
    scores[:, 1:, single] = _NEG
    exit_state = np.where(single, 0, 2)
    bigram = None if transitions is None else transitions + np.float32(penalty)
    entry_cost: npt.NDArray[np.float32] | np.float32 = np.float32(penalty)
    if unit_bonus is not None:
        entry_cost = (unit_bonus + np.float32(penalty)).astype(np.float32)
        if bigram is not None:
            bigram = bigram + unit_bonus[None, :]
    delta = np.full((3, units), _NEG, dtype=np.float32)
    delta[0] = scores[0, 0]
    spare = np.empty_like(delta)
    # The two buffers swap every frame; their row views are made once.
    views = [(buffer[0], buffer[2], buffer[0:2], buffer[1:3]) for buffer in (delta, spare)]
    exits = np.empty((frames, units), dtype=np.float32)
    advanced = np.zeros((frames, 2, units), dtype=bool)  # state 1 from 0, state 2 from 1
    entered = np.zeros((frames, units), dtype=bool)
    for t in range(1, frames):
        first, last, early, late = views[(t - 1) & 1]
        out_first, _, _, out_late = views[t & 1]
        leaving = exits[t - 1]
        np.copyto(leaving, last)
        for unit in singles:
            leaving[unit] = first[unit]
        if bigram is None:
            entry: npt.NDArray[np.float32] | np.float32 = leaving.max() + entry_cost
        else:
            entry = (leaving[:, None] + bigram).max(axis=0)
        np.greater(early, late, out=advanced[t])
        np.greater(entry, first, out=entered[t])
        np.maximum(first, entry, out=out_first)
        np.maximum(late, early, out=out_late)
        spare += scores[t]
        delta, spare = spare, delta
    leaving = delta[exit_state, np.arange(units)]
    unit = int(np.argmax(leaving))
    state = int(exit_state[unit])
    score = float(leaving[unit])
    path = np.empty(frames, dtype=np.int32)
    for t in range(frames - 1, -1, -1):
        path[t] = unit_states[unit, state]
        if t == 0:
            break
        if state == 2 and advanced[t, 1, unit]:
            state = 1
        elif state == 1 and advanced[t, 0, unit]:
            state = 0
        elif state == 0 and entered[t, unit]:
            came_from = exits[t - 1] if bigram is None else exits[t - 1] + bigram[:, unit]
            unit = int(np.argmax(came_from))
            state = int(exit_state[unit])
    return Path(path, score)
