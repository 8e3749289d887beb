"""The synthesis cache around a real voice (eSpeak): once per (voice, settings, text)."""

from __future__ import annotations

import numpy as np

from visavis.speech.tts.cache import CachedTTSEngine
from visavis.speech.tts.espeak import EspeakEngine


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _speak(engine: CachedTTSEngine, text: str, **options: float) -> list[np.ndarray]:
    return [c.pcm async for c in engine.synthesize(text, sample_rate=16000, **options)]


async def test_identical_requests_are_synthesized_once_and_sound_the_same() -> None:
    cache = CachedTTSEngine(EspeakEngine())
    first = await _speak(cache, "Tell me about your last project.")
    again = await _speak(cache, "Tell me   about your last project.")  # spacing is not meaning
    assert len(first) == len(again)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    other_rate = await _speak(cache, "Tell me about your last project.", rate=1.5)
    assert sum(len(p) for p in other_rate) < sum(len(p) for p in first)
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 2, 2)
    assert stats.hit_rate == 1 / 3
    assert stats.synthesis_s_saved > 0 and stats.audio_s_served_from_cache > 1.0
    await cache.aclose()
    await cache.aclose()  # idempotent


async def test_entries_expire_and_the_budget_evicts_the_least_recently_used() -> None:
    clock = ManualClock()
    probe = CachedTTSEngine(EspeakEngine())
    await _speak(probe, "One.")
    one_entry = probe.stats().bytes
    cache = CachedTTSEngine(EspeakEngine(), max_bytes=int(one_entry * 2.5), ttl_s=60, clock=clock)
    await _speak(cache, "One.")
    await _speak(cache, "Two.")
    await _speak(cache, "One.")  # hit: "One." is now the most recent
    await _speak(cache, "Three.")  # over budget: "Two." goes
    await _speak(cache, "Two.")
    assert cache.stats().misses == 4 and cache.stats().hits == 1
    assert cache.stats().bytes <= cache.max_bytes
    clock.now = 61
    await _speak(cache, "Two.")
    assert cache.stats().misses == 5  # expired
    await cache.aclose()


async def test_a_stream_cut_short_is_not_kept() -> None:
    cache = CachedTTSEngine(EspeakEngine())
    stream = cache.synthesize("First sentence here. And a second one after it.")
    await anext(stream)
    await stream.aclose()
    assert cache.stats().entries == 0
    await _speak(cache, "First sentence here. And a second one after it.")
    assert cache.stats().misses == 2 and cache.stats().entries == 1
    await cache.aclose()
