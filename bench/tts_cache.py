"""The synthesis cache with the bundled Piper voice: hit rate, first audio, what it saves. JSON.

Workload: the built-in interviewer speaking its default plan (greeting, every question, one
follow-up each, closing) in ``--conversations`` interviews, sentence by sentence as a live
conversation does. The first interview fills the cache; the others repeat the same sentences.
First audio is the time from asking for a sentence to its first chunk: uncached (a miss)
against cached (a hit).

    .venv/bin/python bench/tts_cache.py [--conversations 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

from visavis.agents.plans import load_default_plan
from visavis.speech.tts.base import split_sentences
from visavis.speech.tts.cache import CachedTTSEngine
from visavis.speech.tts.piper import PiperEngine, PiperVoicePaths


def interview_sentences() -> list[str]:
    plan = load_default_plan()
    texts = [plan.greeting]
    for question in plan.questions:
        texts.append(question.text)
        texts.extend(question.follow_ups[:1] if question.follow_ups else plan.probes[:1])
    texts.append(plan.closing)
    return [s for text in texts for s in split_sentences(text)]


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


async def main(conversations: int) -> dict[str, Any]:
    engine = PiperEngine(voice=PiperVoicePaths.default(), threads=1, first_chunk_words=None)
    cache = CachedTTSEngine(engine, voice="piper:bundled")
    sentences = interview_sentences()
    async for _ in engine.synthesize("Warm up."):  # load the model outside the figures
        pass
    first_audio: dict[str, list[float]] = {"miss": [], "hit": []}
    try:
        for _ in range(conversations):
            for sentence in sentences:
                before = cache.stats().hits
                start = time.perf_counter()
                stream = cache.synthesize(sentence, sample_rate=24000)
                await anext(stream)
                elapsed = (time.perf_counter() - start) * 1000
                async for _ in stream:
                    pass
                first_audio["hit" if cache.stats().hits > before else "miss"].append(elapsed)
        stats = cache.stats()
    finally:
        await cache.aclose()
    return {
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "conversations": conversations,
        "sentences_per_conversation": len(sentences),
        "hit_rate": round(stats.hit_rate, 3),
        "hits": stats.hits,
        "misses": stats.misses,
        "cache_bytes": stats.bytes,
        "audio_s_served_from_cache": stats.audio_s_served_from_cache,
        "synthesis_s_saved": stats.synthesis_s_saved,
        "first_audio_uncached": _ms(first_audio["miss"]),
        "first_audio_cached": _ms(first_audio["hit"]),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=5)
    print(json.dumps(asyncio.run(main(parser.parse_args().conversations)), indent=2))
