"""A synthesis cache for any voice: identical (voice, settings, text) is synthesized once.

Entries are whole ``synthesize`` results (every chunk, phone timings included), kept
least-recently-used within a byte budget and dropped after a time to live. ``ready`` hands
a hit over at once, so a scheduler need not hold a synthesis slot for it. A stream the
caller stops early is not stored. Two identical requests at the same moment both
synthesize; the second to finish replaces the first's entry.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from visavis.speech.tts.base import AudioChunk, TTSEngine


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What makes two syntheses identical (``first_chunk_s`` only changes chunking)."""

    voice: str
    text: str
    sample_rate: int | None
    rate: float
    pitch: float


@dataclass(slots=True)
class _Entry:
    chunks: tuple[AudioChunk, ...]
    size: int
    stored_at: float
    #: Wall time the synthesis took: what each hit saves.
    cost_s: float


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was made."""

    hits: int
    misses: int
    entries: int
    bytes: int
    audio_s_served_from_cache: float
    synthesis_s_saved: float

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def _size(chunks: tuple[AudioChunk, ...]) -> int:
    return sum(c.pcm.nbytes + len(c.text) + 32 * len(c.phones or ()) for c in chunks)


class CachedTTSEngine(TTSEngine):
    """Wraps ``engine``; ``voice`` names it in keys (a voice profile id, a model path ...)."""

    def __init__(
        self,
        engine: TTSEngine,
        *,
        voice: str | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        ttl_s: float = 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes <= 0 or ttl_s <= 0:
            raise ValueError("max_bytes and ttl_s must be positive")
        self.engine = engine
        self.name = engine.name
        self.native_sample_rate = engine.native_sample_rate
        self.voice = voice or engine.name
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = 0
        self._served_s = self._saved_s = 0.0

    def load(self) -> None:
        """Load the voice now, for engines that otherwise load at their first synthesis."""
        load = getattr(self.engine, "load", None)
        if load is not None:
            load()
            self.native_sample_rate = self.engine.native_sample_rate

    def stats(self) -> CacheStats:
        """Hits, misses, size, and what the hits saved."""
        return CacheStats(
            hits=self._hits,
            misses=self._misses,
            entries=len(self._entries),
            bytes=self._bytes,
            audio_s_served_from_cache=round(self._served_s, 3),
            synthesis_s_saved=round(self._saved_s, 3),
        )

    def _lookup(self, key: CacheKey) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry.stored_at >= self.ttl_s:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def _drop(self, key: CacheKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    def _store(self, key: CacheKey, chunks: tuple[AudioChunk, ...], cost_s: float) -> None:
        size = _size(chunks)
        if size > self.max_bytes:
            return
        self._drop(key)
        self._entries[key] = _Entry(chunks, size, self._clock(), cost_s)
        self._bytes += size
        while self._bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        """The cached chunks of an identical earlier synthesis, or the engine's (then kept)."""
        key = CacheKey(self.voice, " ".join(text.split()), sample_rate, rate, pitch)
        hit = self._hit(key)
        if hit is not None:
            for chunk in hit:
                yield chunk
            return
        self._misses += 1
        chunks: list[AudioChunk] = []
        spent = 0.0  # waiting for the engine only, not for the caller between chunks
        stream = self.engine.synthesize(
            text, sample_rate=sample_rate, rate=rate, pitch=pitch, first_chunk_s=first_chunk_s
        )
        try:
            while True:
                started = time.perf_counter()
                try:
                    chunk = await anext(stream)
                except StopAsyncIteration:
                    break
                finally:
                    spent += time.perf_counter() - started
                chunks.append(chunk)
                yield chunk
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        # Reached only when the caller took every chunk: a cut-off stream is not kept.
        self._store(key, tuple(chunks), spent)

    def ready(
        self, text: str, *, sample_rate: int | None = None, rate: float = 1.0, pitch: float = 1.0
    ) -> tuple[AudioChunk, ...] | None:
        """The chunks of an identical earlier synthesis, if one is kept (a hit), else None."""
        return self._hit(CacheKey(self.voice, " ".join(text.split()), sample_rate, rate, pitch))

    def _hit(self, key: CacheKey) -> tuple[AudioChunk, ...] | None:
        entry = self._lookup(key)
        if entry is None:
            return None
        self._hits += 1
        self._saved_s += entry.cost_s
        self._served_s += sum(chunk.duration for chunk in entry.chunks)
        return entry.chunks

    async def aclose(self) -> None:
        """Drop every entry and close the engine; idempotent."""
        self._entries.clear()
        self._bytes = 0
        await self.engine.aclose()
