"""A voice that reports how fast it speaks: audio produced against time spent producing it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from visavis.speech.tts.base import AudioChunk, TTSEngine


class SynthesisObserver(Protocol):
    """Told, per chunk, how many seconds of speech took how many seconds to make."""

    def synthesized(self, *, engine: str, audio_s: float, compute_s: float) -> None: ...


class MeasuredTTS(TTSEngine):
    """Wraps an engine; only the time spent inside the engine counts, not the consumer's."""

    def __init__(self, engine: TTSEngine, observer: SynthesisObserver) -> None:
        self.engine = engine
        self.observer = observer
        self.name = engine.name
        self.native_sample_rate = engine.native_sample_rate

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        chunks = self.engine.synthesize(
            text, sample_rate=sample_rate, rate=rate, pitch=pitch, first_chunk_s=first_chunk_s
        )
        try:
            while True:
                started = time.perf_counter()
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                self.observer.synthesized(
                    engine=self.name,
                    audio_s=chunk.duration,
                    compute_s=time.perf_counter() - started,
                )
                yield chunk
        finally:
            closer = getattr(chunks, "aclose", None)
            if closer is not None:
                await closer()

    def ready(
        self, text: str, *, sample_rate: int | None = None, rate: float = 1.0, pitch: float = 1.0
    ) -> tuple[AudioChunk, ...] | None:
        chunks = self.engine.ready(text, sample_rate=sample_rate, rate=rate, pitch=pitch)
        for chunk in chunks or ():
            self.observer.synthesized(engine=self.name, audio_s=chunk.duration, compute_s=0.0)
        return chunks

    def __getattr__(self, name: str) -> Any:
        # Engine-specific extras (Piper's ``load``) stay reachable through the wrapper.
        return getattr(self.engine, name)

    async def aclose(self) -> None:
        await self.engine.aclose()
