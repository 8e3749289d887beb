"""Shared speech fixtures: short eSpeak utterances with exact phone timings."""

from __future__ import annotations

import numpy as np
import pytest

from visavis.speech.tts.base import AudioChunk, PhoneTiming
from visavis.speech.tts.espeak import EspeakEngine

SENTENCE = "Bob bought a big map for his mother."


@pytest.fixture(scope="session")
def espeak_chunk() -> AudioChunk:
    return EspeakEngine().synthesize_sentence(SENTENCE, 16000)


@pytest.fixture(scope="session")
def paused_chunk() -> AudioChunk:
    """Two sentences with a one-second pause between them (true phones included)."""
    engine = EspeakEngine()
    first = engine.synthesize_sentence("Please pass the butter.", 16000)
    second = engine.synthesize_sentence("My mother made a pumpkin pie.", 16000)
    gap = np.zeros(16000, dtype=np.int16)
    pcm = np.concatenate([first.pcm, gap, second.pcm])
    shift = first.duration + 1.0
    phones = (
        *(first.phones or ()),
        PhoneTiming("SIL", first.duration, shift),
        *(PhoneTiming(p.phone, p.start + shift, p.end + shift) for p in second.phones or ()),
    )
    text = "Please pass the butter. My mother made a pumpkin pie."
    return AudioChunk(pcm=pcm, sample_rate=16000, text=text, phones=phones)
