"""Long recordings (a whole voice-over with its dialog): cut at pauses, aligned piece by piece.

The recording is analyzed 30 s at a time and cut into pieces of 8–25 s in the middle of
pauses. The text is followed along: each piece is aligned to the words from where the last
one stopped (it may end after any word, and skip a few at its start when the audio leaves
them out). A piece whose words do not fit its audio (an ad-lib, a changed line) is analyzed
from the audio alone and listed in the result's ``spans``; the next piece picks the text up
again. Memory stays flat: only per-frame features of the whole recording are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from visavis.speech.audio import Pcm
from visavis.speech.errors import AlignmentError
from visavis.speech.lipsync.acoustic import AcousticModel
from visavis.speech.lipsync.aligner import AlignOptions, align_piece, check_match
from visavis.speech.lipsync.analyzer import recognize
from visavis.speech.lipsync.features import (
    FRAME_SECONDS,
    cepstra_blocks,
    normalized_features,
)
from visavis.speech.phones import SIL
from visavis.speech.tts.base import PhoneTiming

LONG_SECONDS = 60.0  # longer recordings take this path; shorter ones are aligned whole
MIN_PIECE = 800  # frames (8 s): long enough to tell a wrong text from a right one
MAX_PIECE = 2500  # frames (25 s): cut even without a pause beyond this
MIN_PAUSE = 25  # frames of quiet that make a place to cut
SKIP_COST = -15.0  # per word of text the audio leaves out at the start of a piece
# A piece holds many one-second stretches; over many, one fits worse by chance more often
# than in a sentence. Whole lines that do not match show in the per-frame gap anyway (ad-libs
# in eSpeak's 30-minute recording: 4.9 and more, against 3). Right pieces of flite's rms reach
# 10.2 with the current model.
PIECE_WINDOW_GAP = 12.0
NO_TEXT_LEFT = "the text ended before this part of the audio"

Progress = Callable[[float, float], None]  # (seconds done, seconds in all)


@dataclass(frozen=True, slots=True)
class FallbackSpan:
    """A stretch of the audio (seconds) analyzed without the text, and why."""

    start: float
    end: float
    reason: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form: ``{"start", "end", "reason"}`` (times to 10 ms)."""
        return {"start": round(self.start, 2), "end": round(self.end, 2), "reason": self.reason}


@dataclass
class LongResult:
    """Timed phones for the whole recording and what could not use the text."""

    phones: list[PhoneTiming]
    spans: list[FallbackSpan] = field(default_factory=list)
    pieces: int = 0
    aligned_pieces: int = 0
    words_unmatched: int = 0
    fit_gaps: list[float] = field(default_factory=list)


def pieces(energy: npt.NDArray[np.float32]) -> list[tuple[int, int]]:
    """Frame ranges of 8–25 s, cut in the middle of pauses where there are any."""
    total = len(energy)
    if total <= MAX_PIECE:
        return [(0, total)]
    loud = float(np.percentile(energy, 95))
    floor = float(np.percentile(energy, 5))
    quiet = energy < max(loud - 35.0, min(loud - 20.0, floor + 6.0))
    candidates = [(s + e) // 2 for s, e in _runs(quiet) if e - s >= MIN_PAUSE]
    smooth = np.convolve(energy, np.ones(20, np.float32) / 20, mode="same")
    cuts: list[int] = []
    start = 0
    for mark in [*candidates, total]:
        while mark - start > MAX_PIECE:
            lo, hi = start + MIN_PIECE, start + MAX_PIECE
            start = lo + int(np.argmin(smooth[lo:hi]))  # no pause: the quietest moment
            cuts.append(start)
        if mark - start >= MIN_PIECE and total - mark >= MIN_PIECE // 2:
            cuts.append(mark)
            start = mark
    bounds = [0, *cuts, total]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, end) of each run of True."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def analyze_long(
    pcm: Pcm,
    sample_rate: int,
    model: AcousticModel,
    words: Sequence[Sequence[str]] | None,
    options: AlignOptions | None = None,
    progress: Progress | None = None,
) -> LongResult:
    """Timed phones of a long recording: aligned to ``words`` piece by piece, or from audio."""
    opts = options or AlignOptions()
    opts = replace(opts, mismatch_window=max(opts.mismatch_window, PIECE_WINDOW_GAP))
    cepstra, energy = cepstra_blocks(pcm, sample_rate)
    loud = float(np.percentile(energy, 95))
    speech = energy > loud - 35.0
    total_s = len(energy) * FRAME_SECONDS
    per_second = 0.0
    if words:
        per_second = len(words) / max(1.0, float(speech.sum()) * FRAME_SECONDS)
    result = LongResult(phones=[])
    position, owed = 0, 0.0
    for start, end in pieces(energy):
        result.pieces += 1
        loglik = model.log_likelihoods(normalized_features(cepstra, energy, (start, end)))
        spoken_s = float(speech[start:end].sum()) * FRAME_SECONDS
        timed: list[PhoneTiming] | None = None
        reason = ""
        if words is not None and spoken_s >= 0.1:
            expected = owed + spoken_s * per_second
            if position >= len(words):
                reason = NO_TEXT_LEFT
            else:
                window = words[position : position + int(expected * 2) + 20]
                try:
                    aligned = align_piece(loglik, window, model, opts, skip_cost=SKIP_COST)
                    check_match(aligned, opts)
                except AlignmentError as exc:
                    reason, owed = str(exc), expected
                else:
                    timed = aligned.phones
                    result.words_unmatched += aligned.first_word
                    result.aligned_pieces += 1
                    result.fit_gaps.append(aligned.gap_per_frame)
                    position += aligned.words_used
                    owed = 0.0
        if timed is None:
            timed = recognize(loglik, model)
            if reason:
                _add_span(result.spans, start * FRAME_SECONDS, end * FRAME_SECONDS, reason)
        _append(result.phones, timed, start * FRAME_SECONDS, end * FRAME_SECONDS)
        if progress is not None:
            progress(min(total_s, end * FRAME_SECONDS), total_s)
    if words is not None:
        result.words_unmatched += max(0, len(words) - position)
    return result


def _add_span(spans: list[FallbackSpan], start: float, end: float, reason: str) -> None:
    if spans and abs(spans[-1].end - start) < 1e-6 and spans[-1].reason == reason:
        spans[-1] = FallbackSpan(spans[-1].start, end, reason)
    else:
        spans.append(FallbackSpan(start, end, reason))


def _append(out: list[PhoneTiming], piece: Sequence[PhoneTiming], start: float, end: float) -> None:
    """Add a piece's phones (on its own clock) to the recording's, the last one to its end."""
    for index, (phone, begin, finish) in enumerate(piece):
        begin, finish = begin + start, finish + start
        if index == len(piece) - 1:
            finish = end
        if out and phone == SIL and out[-1].phone == SIL:
            out[-1] = PhoneTiming(SIL, out[-1].start, finish)
        elif finish > begin:
            out.append(PhoneTiming(phone, begin, finish))
