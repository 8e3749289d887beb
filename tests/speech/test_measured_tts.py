"""A measured voice reports speech produced against time spent, and stays the same voice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from visavis.speech.tts.base import AudioChunk, TTSEngine
from visavis.speech.tts.measured import MeasuredTTS


class SlowEngine(TTSEngine):
    name = "slow"
    native_sample_rate = 16000

    def __init__(self) -> None:
        self.closed = 0

    def load(self) -> str:
        return "loaded"

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        for word in text.split():
            await asyncio.sleep(0.02)
            yield AudioChunk(np.zeros(8000, dtype=np.int16), 16000, word)

    async def aclose(self) -> None:
        self.closed += 1


class Observer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []

    def synthesized(self, *, engine: str, audio_s: float, compute_s: float) -> None:
        self.calls.append((engine, audio_s, compute_s))


async def test_each_chunk_is_reported_with_the_engines_time_only() -> None:
    engine, observer = SlowEngine(), Observer()
    voice = MeasuredTTS(engine, observer)
    chunks = []
    async for chunk in voice.synthesize("one two three"):
        await asyncio.sleep(0.5)  # the consumer's own time is not the engine's
        chunks.append(chunk.text)
    assert chunks == ["one", "two", "three"]
    assert [(name, audio) for name, audio, _ in observer.calls] == [("slow", 0.5)] * 3
    assert all(0.015 <= compute < 0.4 for *_, compute in observer.calls)
    assert voice.name == "slow" and voice.native_sample_rate == 16000
    assert voice.load() == "loaded"  # engine extras pass through
    await voice.aclose()
    assert engine.closed == 1


async def test_a_consumer_that_stops_early_closes_the_engines_stream() -> None:
    voice = MeasuredTTS(SlowEngine(), Observer())
    stream = voice.synthesize("one two three")
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
