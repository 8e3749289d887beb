"""Audio, text or phone timings to a mouth-cue track: ``animate`` (a whole recording) and
``LipSyncStream`` (chunk by chunk, for the live pipeline)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from visavis.speech.audio import Pcm
from visavis.speech.errors import AlignmentError, InvalidAudioError, UnspeakableTextError
from visavis.speech.lipsync.acoustic import AcousticModel, default_model
from visavis.speech.lipsync.aligner import Alignment, AlignOptions, align, check_match
from visavis.speech.lipsync.analyzer import recognize
from visavis.speech.lipsync.animation import AnimationOptions, animate_phones
from visavis.speech.lipsync.features import FRAME_SECONDS, features, frame_power
from visavis.speech.lipsync.g2p import pronunciations, text_to_words
from visavis.speech.lipsync.long_form import LONG_SECONDS, LongResult, Progress, analyze_long
from visavis.speech.lipsync.track import VisemeTrack
from visavis.speech.phones import SIL
from visavis.speech.tts.base import AudioChunk, PhoneTiming

METHOD_PHONES = "phones"
METHOD_ALIGNED = "aligned"
METHOD_AUDIO = "audio"
EDGE_QUIET_DB = -35.0
MIN_QUIET_PAUSE = 0.3  # seconds: a quiet stretch this long inside the audio is a pause
QUIET_MARGIN = 0.05  # seconds of it, at each end, left to the speech around it
_CLOSING = frozenset({"P", "B", "M"})
_CLOSURE_GRACE = 0.15  # a final closure may sit this long after the last loud frame


def animate(
    pcm: Pcm,
    sample_rate: int,
    *,
    text: str | None = None,
    phones: Sequence[PhoneTiming] | None = None,
    extended_shapes: str = "GHX",
    language: str = "en-us",
    animation: AnimationOptions | None = None,
    alignment: AlignOptions | None = None,
    progress: Progress | None = None,
) -> VisemeTrack:
    """Mouth cues for mono int16 ``pcm``.

    With ``phones`` (exact timings) they are mapped directly; with ``text`` its phones are
    aligned to the audio (falling back to audio-only analysis, with ``fallback_reason`` in
    the metadata, when the text does not match); otherwise the audio alone is analyzed.
    Recordings over a minute are analyzed piece by piece (``long_form``): where the text
    does not match only part of the audio, that part alone is analyzed from the audio and
    ``metadata["fallback_spans"]`` lists it. ``progress(done_s, total_s)`` follows the work.
    """
    samples = pcm if isinstance(pcm, np.ndarray) else np.asarray(pcm)
    if samples.ndim != 1 or len(samples) == 0:
        raise InvalidAudioError("the audio holds no samples")
    if sample_rate < 4000:
        raise InvalidAudioError(f"sample rate {sample_rate} Hz is too low for speech")
    duration = len(samples) / sample_rate
    if phones is not None:
        # The live path (exact timings from the voice): nothing to analyze, kept lean.
        cues = animate_phones(phones, duration, animation)
        track = VisemeTrack(cues, duration, {"fallback_reason": None, "method": METHOD_PHONES})
        return track if extended_shapes == "GHX" else track.with_shapes(extended_shapes)
    metadata: dict[str, object] = {"fallback_reason": None}
    if _is_silent(samples):
        metadata["method"] = METHOD_AUDIO
        if text is not None:
            metadata["fallback_reason"] = "the audio is silent"
        cues = animate_phones([], duration, animation)
        return VisemeTrack(cues, duration, metadata).with_shapes(extended_shapes)
    model = default_model()
    if duration > LONG_SECONDS:
        found = _long(
            samples.astype(np.int16, copy=False),
            sample_rate,
            model,
            text,
            language,
            alignment,
            progress,
            metadata,
        )
        found = rest_in_quiet_pauses(rest_at_quiet_edges(found, samples, sample_rate), samples,
                                     sample_rate)  # fmt: skip
        cues = animate_phones(found, duration, animation)
        track = VisemeTrack(cues, duration, metadata)
        return track if extended_shapes.upper() == "GHX" else track.with_shapes(extended_shapes)
    feats = features(samples.astype(np.int16), sample_rate)
    loglik = model.log_likelihoods(feats)
    timed: list[PhoneTiming] = []
    if text is not None:
        try:
            result = _align_text(loglik, text, language, model, alignment)
            timed = result.phones
            metadata["method"] = METHOD_ALIGNED
            metadata["fit_gap"] = round(result.gap_per_frame, 2)
            metadata["fit_gap_worst_second"] = round(result.worst_window_gap, 2)
        except (AlignmentError, UnspeakableTextError) as exc:
            metadata["fallback_reason"] = str(exc)
    if not timed:
        metadata["method"] = METHOD_AUDIO
        timed = recognize(loglik, model)
    timed = rest_in_quiet_pauses(rest_at_quiet_edges(timed, samples, sample_rate), samples,
                                 sample_rate)  # fmt: skip
    cues = animate_phones(timed, duration, animation)
    track = VisemeTrack(cues, duration, metadata)
    if progress is not None:
        progress(duration, duration)
    return track if extended_shapes.upper() == "GHX" else track.with_shapes(extended_shapes)


def _align_text(
    loglik: npt.NDArray[np.float32],
    text: str,
    language: str,
    model: AcousticModel,
    options: AlignOptions | None,
) -> Alignment:
    """The text aligned to the audio in the language's pronunciation or, where that does not
    fit, in its other one (American or British English); the first pronunciation's error if
    none fits."""
    errors: list[AlignmentError] = []
    for voice in pronunciations(language):
        try:
            result = align(loglik, text_to_words(text, voice=voice), model, options)
            check_match(result, options)
        except AlignmentError as exc:
            errors.append(exc)
            continue
        return result
    raise errors[0]


def _long(
    samples: Pcm,
    sample_rate: int,
    model: AcousticModel,
    text: str | None,
    language: str,
    alignment: AlignOptions | None,
    progress: Progress | None,
    metadata: dict[str, object],
) -> list[PhoneTiming]:
    """Phones of a long recording (see ``long_form``), the outcome noted in ``metadata``."""
    words: list[list[str]] | None = None
    if text is not None:
        try:
            words = text_to_words(text, voice=language)
        except UnspeakableTextError as exc:
            metadata["fallback_reason"] = str(exc)
    result = analyze_long(samples, sample_rate, model, words, alignment, progress)
    metadata["method"] = METHOD_ALIGNED if result.aligned_pieces else METHOD_AUDIO
    metadata["pieces"] = result.pieces
    if words is not None:
        _note_long(result, metadata, len(samples) / sample_rate)
    return result.phones


def _note_long(result: LongResult, metadata: dict[str, object], duration: float) -> None:
    metadata["fallback_spans"] = [span.as_dict() for span in result.spans]
    metadata["words_unmatched"] = result.words_unmatched
    if result.fit_gaps:
        metadata["fit_gap"] = round(float(np.mean(result.fit_gaps)), 2)
    if not result.spans:
        return
    if not result.aligned_pieces:
        metadata["fallback_reason"] = result.spans[0].reason
        return
    seconds = sum(span.end - span.start for span in result.spans)
    metadata["fallback_reason"] = (
        f"the text does not match {len(result.spans)} part(s) of the audio "
        f"({seconds:.1f} s of {duration:.1f} s, listed in fallback_spans); "
        "those parts were analyzed from the audio alone"
    )


def rest_at_quiet_edges(
    phones: Sequence[PhoneTiming], samples: Pcm, sample_rate: int
) -> list[PhoneTiming]:
    """Phones with the quiet lead-in and tail of the audio made pauses (the mouth at rest).

    Models may read faint noise or breath at the edges as speech; like a voice activity
    detector, 10 ms frames more than ``EDGE_QUIET_DB`` under the loud part are not speech there.
    """
    hop = max(1, int(sample_rate * FRAME_SECONDS))
    usable = len(samples) // hop * hop
    if not phones or usable == 0:
        return list(phones)
    power = frame_power(samples, hop)
    loud = power > float(np.percentile(power, 95)) * 10 ** (EDGE_QUIET_DB / 10)
    if not loud.any():
        return list(phones)
    first = int(np.argmax(loud))
    last = len(loud) - 1 - int(np.argmax(loud[::-1]))
    begin = first * FRAME_SECONDS
    finish = (last + 1) * FRAME_SECONDS
    out: list[PhoneTiming] = [PhoneTiming(SIL, 0.0, begin)] if begin > 0 else []
    for phone, start, end in phones:
        # Lips closing at the end (a final P, B or M) are quiet by nature: they stay.
        last_closure = phone in _CLOSING and start < finish + _CLOSURE_GRACE
        start, end = max(start, begin), (end if last_closure else min(end, finish))
        if end <= start:
            continue
        if phone == SIL and out and out[-1].phone == SIL:
            out[-1] = PhoneTiming(SIL, out[-1].start, end)
        else:
            out.append(PhoneTiming(phone, start, end))
    tail = phones[-1].end
    finish = max(finish, out[-1].end if out else finish)
    if tail > finish:
        if out and out[-1].phone == SIL:
            out[-1] = PhoneTiming(SIL, out[-1].start, tail)
        else:
            out.append(PhoneTiming(SIL, finish, tail))
    return out


def rest_in_quiet_pauses(
    phones: Sequence[PhoneTiming], samples: Pcm, sample_rate: int
) -> list[PhoneTiming]:
    """Phones with every quiet stretch of at least ``MIN_QUIET_PAUSE`` inside the audio a pause.

    A voice's pauses are seldom digital silence (a synthesizer's faint hiss, room noise): the
    models may read them as a long consonant and hold the mouth open through a pause. Frames
    ``EDGE_QUIET_DB`` under the loud part, long enough to be a pause, are rest whatever the
    models said; a P, B or M that starts as the quiet begins keeps its closure.
    """
    hop = max(1, int(sample_rate * FRAME_SECONDS))
    if not phones or len(samples) < hop:
        return list(phones)
    power = frame_power(samples, hop)
    loud = power > float(np.percentile(power, 95)) * 10 ** (EDGE_QUIET_DB / 10)
    padded = np.concatenate(([True], loud, [True])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    # The speech on either side fades out and in: its faint ends stay with it.
    quiet = [
        (a * FRAME_SECONDS + QUIET_MARGIN, b * FRAME_SECONDS - QUIET_MARGIN)
        for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True)
        if b - a >= MIN_QUIET_PAUSE / FRAME_SECONDS and a > 0 and b < len(loud)
    ]
    if not quiet:
        return list(phones)
    out: list[PhoneTiming] = []

    def add(phone: str, start: float, end: float) -> None:
        if end - start <= 1e-6:
            return
        if phone == SIL and out and out[-1].phone == SIL:
            out[-1] = PhoneTiming(SIL, out[-1].start, end)
        else:
            out.append(PhoneTiming(phone, start, end))

    index = 0
    for phone, start, end in phones:
        while index < len(quiet) and quiet[index][1] <= start:
            index += 1
        at = start
        for lo, hi in quiet[index:]:
            if lo >= end:
                break
            if phone in _CLOSING and start >= lo - 1e-6 and start < lo + _CLOSURE_GRACE:
                continue  # lips closing into the pause: kept
            add(phone, at, max(at, lo))
            add(SIL, max(at, lo), min(end, hi))
            at = min(end, hi)
        add(phone, at, end)
    return out


def _is_silent(samples: Pcm) -> bool:
    """True when nothing in the audio rises above -60 dBFS (no speech to animate)."""
    return max(int(samples.max()), -int(samples.min())) < 33


class LipSyncStream:
    """Animates a stream of audio chunks one at a time (look-ahead: the chunk itself).

    Each result is on the chunk's own clock; ``offset`` is where the chunk starts in the
    stream, for callers that want one timeline.
    """

    def __init__(self, *, extended_shapes: str = "GHX", language: str = "en-us") -> None:
        self.extended_shapes = extended_shapes
        self.language = language
        self.offset = 0.0

    def push(self, chunk: AudioChunk) -> VisemeTrack:
        """Cues for one chunk: exact phones if it has them, else its text, else its audio."""
        track = animate(
            chunk.pcm,
            chunk.sample_rate,
            text=None if chunk.phones is not None else (chunk.text or None),
            phones=chunk.phones,
            extended_shapes=self.extended_shapes,
            language=self.language,
        )
        track = VisemeTrack(track.cues, track.duration, {**track.metadata, "offset": self.offset})
        self.offset += chunk.duration
        return track

    async def apush(self, chunk: AudioChunk) -> VisemeTrack:
        """``push`` in a worker thread, for chunks that need alignment or analysis."""
        if chunk.phones is not None:
            return self.push(chunk)
        return await asyncio.to_thread(self.push, chunk)
