"""Forced alignment of a text's phones to audio (HMM over phone states, Viterbi).

Each phone is a chain of three states (the middle one skippable, so 20 ms is the shortest
phone); stops may start with a silent closure; a short pause may sit between any two words.
The alignment is checked against a free phone loop on the same audio: when the text fits
the audio much worse than free recognition, the text does not match (``AlignmentError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from visavis.speech.errors import AlignmentError
from visavis.speech.lipsync import viterbi
from visavis.speech.lipsync.acoustic import (
    CLOSURE,
    SHORT_PAUSE,
    STOPS,
    AcousticModel,
    is_silence_state,
)
from visavis.speech.lipsync.analyzer import recognize_path
from visavis.speech.lipsync.features import FRAME_SECONDS
from visavis.speech.phones import SIL
from visavis.speech.tts.base import PhoneTiming

MAX_CELLS = 60_000_000  # frames × states; beyond that the text is not used
WINDOW_FRAMES = 100


@dataclass(frozen=True, slots=True)
class AlignOptions:
    """Costs of the alignment (log-likelihood units) and the mismatch threshold."""

    pause_cost: float = -8.0
    closure_cost: float = -2.0
    mismatch_per_frame: float = 3.0
    mismatch_window: float = 6.0
    loop_penalty: float = -12.0


@dataclass(frozen=True)
class Alignment:
    """Aligned phones and how well the text fits (per-frame score gap to free recognition)."""

    phones: list[PhoneTiming]
    gap_per_frame: float
    worst_window_gap: float
    first_word: int = 0
    words_used: int = 0


def align(
    loglik: npt.NDArray[np.float32],
    words: Sequence[Sequence[str]],
    model: AcousticModel,
    options: AlignOptions | None = None,
) -> Alignment:
    """Align ``words`` (phones per word) to the frames scored in ``loglik``."""
    opts = options or AlignOptions()
    chain = _chain(words, model, opts)
    frames = loglik.shape[0]
    if frames * len(chain.states) > MAX_CELLS:
        raise AlignmentError("the audio and text are too long to align in one piece")
    min_frames = int(np.sum(~chain.optional))
    if min_frames > frames:
        raise AlignmentError("the text is too long for the audio")
    return _decode(loglik, chain, model, opts, None, None)


def align_piece(
    loglik: npt.NDArray[np.float32],
    words: Sequence[Sequence[str]],
    model: AcousticModel,
    options: AlignOptions | None = None,
    *,
    skip_cost: float = -6.0,
) -> Alignment:
    """Align the frames to a run of ``words`` from the first: a piece of a longer text.

    The piece may end after any word (the rest belongs to later audio) and may begin a few
    words in, at ``skip_cost`` per word left out (text the audio does not say).
    ``Alignment.first_word``/``words_used`` say which words the audio holds.
    """
    opts = options or AlignOptions()
    chain = _chain(words, model, opts)
    position = chain.position
    previous = np.concatenate(([-1], position[:-1]))
    # A piece starts in a pause before a word or at the word's first state (after its
    # optional closure, if it has one).
    starts = (position % 2 == 0) | (position != previous)
    starts[1:] |= starts[:-1] & chain.optional[:-1] & (position[1:] % 2 == 1)
    start_cost = np.where(starts, (position // 2) * np.float32(skip_cost), _NEG_INF)
    ends = _word_ends(chain)
    return _decode(loglik, chain, model, opts, start_cost.astype(np.float32), ends)


_NEG_INF = np.float32(-np.inf)


def _word_ends(chain: _Chain) -> npt.NDArray[np.bool_]:
    """States after which a piece may stop: each word's last state and the pause after it."""
    position = chain.position
    nxt = np.concatenate((position[1:], [position[-1] + 1]))
    return np.asarray(((position % 2 == 1) & (nxt != position)) | (position % 2 == 0))


def _decode(
    loglik: npt.NDArray[np.float32],
    chain: _Chain,
    model: AcousticModel,
    opts: AlignOptions,
    start_cost: npt.NDArray[np.float32] | None,
    end_ok: npt.NDArray[np.bool_] | None,
) -> Alignment:
    states, optional, enter = chain.states, chain.optional, chain.enter
    frames = loglik.shape[0]
    emissions = loglik[:, states]
    path = viterbi.forced(emissions, optional, enter, start_cost, end_ok)
    free = recognize_path(loglik, model, opts.loop_penalty)
    rows = np.arange(frames)
    best = loglik[rows, free.states]
    speech = ~np.array([is_silence_state(n) for n in model.names])[free.states]
    gap, worst = _fit_gaps(best - emissions[rows, path.states], speech)
    if gap > opts.mismatch_per_frame or worst > opts.mismatch_window:
        # Judged again with pauses that may be any quiet sound (room noise, breath, a voice's
        # faint hum): real pauses are rarely silent, and text that fits should not be lost.
        judged = emissions.copy()
        judged[:, states == model.index[SHORT_PAUSE]] = pause_scores(loglik, model)[:, None]
        again = viterbi.forced(judged, optional, enter, start_cost, end_ok)
        gap_again, worst_again = _fit_gaps(best - judged[rows, again.states], speech)
        if gap_again < gap:
            path, gap, worst = again, gap_again, min(worst, worst_again)
    labels = [chain.owners[s] for s in path.states]
    first = int(chain.position[path.states[0]]) // 2
    used = (int(chain.position[path.states[-1]]) + 1) // 2
    return Alignment(_segments(labels), gap, worst, first, used)


def pause_scores(loglik: npt.NDArray[np.float32], model: AcousticModel) -> npt.NDArray[np.float32]:
    """How well each frame fits a pause: the best of the silence and closure states.

    Real pauses are rarely digital silence (room noise, breath, a voice's faint hum); the
    closure model, fitted on the quiet murmur before stops, covers what the silence ones miss.
    """
    columns = [i for i, name in enumerate(model.names) if is_silence_state(name)]
    columns.append(model.index[CLOSURE])
    return np.asarray(loglik[:, columns].max(axis=1), dtype=np.float32)


def _fit_gaps(
    per_frame: npt.NDArray[np.float32], speech: npt.NDArray[np.bool_]
) -> tuple[float, float]:
    """Mean gap over speech frames, and the worst mean over one-second stretches of speech."""
    if not speech.any():
        return 0.0, 0.0
    gaps = per_frame[speech]
    if len(gaps) <= WINDOW_FRAMES:
        mean = float(gaps.mean())
        return mean, mean
    sums = np.cumsum(np.concatenate(([0.0], gaps)))
    windows = (sums[WINDOW_FRAMES:] - sums[:-WINDOW_FRAMES]) / WINDOW_FRAMES
    return float(gaps.mean()), float(windows.max())


def check_match(alignment: Alignment, options: AlignOptions | None = None) -> None:
    """Raise ``AlignmentError`` when the text does not fit the audio (overall or in a stretch)."""
    opts = options or AlignOptions()
    if alignment.gap_per_frame > opts.mismatch_per_frame:
        raise AlignmentError(
            "the text does not match the audio "
            f"(fit {alignment.gap_per_frame:.1f} worse per frame than free recognition)"
        )
    if alignment.worst_window_gap > opts.mismatch_window:
        raise AlignmentError(
            "the text does not match part of the audio "
            f"(fit {alignment.worst_window_gap:.1f} worse per frame over one second)"
        )


@dataclass(frozen=True)
class _Chain:
    """The text as a chain of states.

    ``states``: model state of each; ``owners``: (phone instance, phone name); ``optional``:
    may be skipped; ``enter``: entry cost; ``position``: 2w+1 inside word w, 2w+2 in the pause
    after it, 0 in the pause before the first word.
    """

    states: npt.NDArray[np.int32]
    owners: list[tuple[int, str]]
    optional: npt.NDArray[np.bool_]
    enter: npt.NDArray[np.float32]
    position: npt.NDArray[np.int64]


def _chain(words: Sequence[Sequence[str]], model: AcousticModel, opts: AlignOptions) -> _Chain:
    """States of the text, with a short pause allowed before, between and after words."""
    index = model.index
    chain: list[int] = []
    owners: list[tuple[int, str]] = []  # (phone instance, phone name)
    optional: list[bool] = []
    enter: list[float] = []
    position: list[int] = []

    def add(state: str, owner: tuple[int, str], is_optional: bool, cost: float, at: int) -> None:
        chain.append(index[state])
        owners.append(owner)
        optional.append(is_optional)
        enter.append(cost)
        position.append(at)

    instance = 0
    add(SHORT_PAUSE, (instance, SIL), True, 0.0, 0)
    for number, word in enumerate(words):
        inside = 2 * number + 1
        for phone in word:
            instance += 1
            if phone in STOPS:
                add(CLOSURE, (instance, CLOSURE), True, opts.closure_cost, inside)
            add(f"{phone}_0", (instance, phone), False, 0.0, inside)
            add(f"{phone}_1", (instance, phone), True, 0.0, inside)
            add(f"{phone}_2", (instance, phone), False, 0.0, inside)
        instance += 1
        add(SHORT_PAUSE, (instance, SIL), True, opts.pause_cost, inside + 1)
    return _Chain(
        np.array(chain, dtype=np.int32),
        owners,
        np.array(optional, dtype=bool),
        np.array(enter, dtype=np.float32),
        np.array(position, dtype=np.int64),
    )


def _segments(labels: Sequence[tuple[int, str]]) -> list[PhoneTiming]:
    """Frame labels to phone timings; a stop's closure belongs to the phone before it."""
    out: list[PhoneTiming] = []
    start = 0
    for t in range(1, len(labels) + 1):
        if t < len(labels) and labels[t] == labels[start]:
            continue
        name = labels[start][1]
        begin, end = _edge(start), _edge(t)
        if name == CLOSURE:
            if out:
                out[-1] = PhoneTiming(out[-1].phone, out[-1].start, end)
            else:
                out.append(PhoneTiming(SIL, begin, end))
        elif out and out[-1].phone == SIL and name == SIL:
            out[-1] = PhoneTiming(SIL, out[-1].start, end)
        else:
            out.append(PhoneTiming(name, begin, end))
        start = t
    return out


def _edge(frame: int) -> float:
    return max(0.0, (frame - 0.5) * FRAME_SECONDS)
