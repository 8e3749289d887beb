"""Real speech for the fakes of remote voices to send back (eSpeak NG, at any rate)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from visavis.speech.tts.espeak import EspeakEngine


def spoken(text: str, sample_rate: int) -> npt.NDArray[np.int16]:
    """``text`` said by eSpeak NG at ``sample_rate`` (a stand-in for the cloned voice)."""
    return EspeakEngine().synthesize_sentence(text, sample_rate).pcm


def character_times(text: str, seconds: float) -> tuple[list[float], list[float]]:
    """Start and end of every character, spread evenly over ``seconds`` (as a service's
    alignment would give them)."""
    step = seconds / max(1, len(text))
    starts = [round(i * step, 3) for i in range(len(text))]
    return starts, [round((i + 1) * step, 3) for i in range(len(text))]
