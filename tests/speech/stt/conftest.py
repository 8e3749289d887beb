"""Real speech for the recognizers: the bundled Piper voice at 16 kHz, made once per session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import STTEngine
from visavis.speech.stt.local import LocalSTTEngine
from visavis.speech.stt.moonshine import MoonshineEngine
from visavis.speech.stt.whisper import FasterWhisperEngine
from visavis.speech.tts.piper import PiperEngine
from visavis.testing.word_errors import edit_distance

SENTENCE = "Please tell me about the last project you worked on."


async def until_loaded(stt: STTEngine | None, timeout: float = 120.0) -> None:
    """Wait for a recognizer that loads in the background (the warm-up at startup)."""
    assert stt is not None
    deadline = time.monotonic() + timeout
    while not stt.loaded:
        assert time.monotonic() < deadline, "the recognizer never loaded"
        await asyncio.sleep(0.05)


def piper_speech(text: str) -> np.ndarray:
    """``text`` in the bundled Piper voice, mono PCM16 at 16 kHz, the same audio every time
    (Piper's noise off: a test hears one fixed recording, not a new draw each run)."""
    engine = PiperEngine(first_chunk_words=None, variation=0.0)
    chunks = engine.synthesize_sentence(text, 16000)
    return np.concatenate([chunk.pcm for chunk in chunks])


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    return piper_speech(SENTENCE)


def words_of(text: str) -> list[str]:
    return [w.strip(".,!?;:").lower() for w in text.split() if w.strip(".,!?;:")]


def word_errors(expected: str, got: str) -> int:
    """Word-level edit distance: the tests' own measure, not an engine's."""
    return edit_distance(words_of(expected), words_of(got))


@pytest.fixture
async def whisper() -> AsyncIterator[FasterWhisperEngine]:
    engine = FasterWhisperEngine(scheduler=DeadlineScheduler(1), partial_interval_s=0.5)
    yield engine
    await engine.aclose()


@pytest.fixture
async def moonshine() -> AsyncIterator[MoonshineEngine]:
    engine = MoonshineEngine(scheduler=DeadlineScheduler(1), partial_interval_s=0.5)
    yield engine
    await engine.aclose()


@pytest.fixture(params=["faster-whisper", "moonshine"])
async def local_engine(request: pytest.FixtureRequest) -> AsyncIterator[LocalSTTEngine]:
    """Each offline engine in turn."""
    scheduler = DeadlineScheduler(1)
    engine: LocalSTTEngine = (
        FasterWhisperEngine(scheduler=scheduler, partial_interval_s=0.5)
        if request.param == "faster-whisper"
        else MoonshineEngine(scheduler=scheduler, partial_interval_s=0.5)
    )
    yield engine
    await engine.aclose()
