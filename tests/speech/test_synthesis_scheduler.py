"""Shared synthesis: never more than its slots at once, the most urgent job first."""

from __future__ import annotations

import asyncio

import pytest

from visavis.speech.tts.bounded import BoundedVoice
from visavis.speech.tts.cache import CachedTTSEngine
from visavis.speech.tts.espeak import EspeakEngine
from visavis.speech.tts.scheduler import SynthesisScheduler
from visavis.speech.voice import split_first_words


@pytest.fixture
def engine() -> EspeakEngine:
    return EspeakEngine()


async def test_waiting_jobs_run_earliest_deadline_first(engine: EspeakEngine) -> None:
    scheduler = SynthesisScheduler(slots=1)
    loop = asyncio.get_running_loop()
    now = loop.time()
    finished: list[str] = []

    async def speak(name: str, deadline: float) -> None:
        job = scheduler.submit(engine, f"This is {name}.", deadline=deadline, sample_rate=16000)
        async for _ in job.chunks():
            pass
        finished.append(name)

    first = asyncio.create_task(speak("first", now))
    await asyncio.sleep(0)  # it holds the only slot
    later = [
        asyncio.create_task(speak(name, now + offset))
        for name, offset in [("relaxed", 9.0), ("urgent", 0.5), ("soon", 2.0)]
    ]
    await asyncio.gather(first, *later)
    assert finished == ["first", "urgent", "soon", "relaxed"]


async def test_slots_bound_the_work_and_cancelled_waiters_give_way(engine: EspeakEngine) -> None:
    scheduler = SynthesisScheduler(slots=2)
    deadline = asyncio.get_running_loop().time()
    holders = [scheduler.slot(deadline) for _ in range(2)]
    for holder in holders:
        await holder.__aenter__()
    waiter = asyncio.create_task(
        anext(aiter(scheduler.synthesize(engine, "Waiting.", deadline=deadline, sample_rate=16000)))
    )
    await asyncio.sleep(0.05)
    assert not waiter.done() and scheduler.waiting == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    await holders[0].__aexit__(None, None, None)
    # The cancelled waiter did not take the freed slot: a new job runs at once.
    chunk = await anext(
        aiter(scheduler.synthesize(engine, "Now.", deadline=deadline, sample_rate=16000))
    )
    assert chunk.duration > 0
    await holders[1].__aexit__(None, None, None)


def test_first_words_split_at_an_early_comma_or_after_four_words() -> None:
    assert split_first_words("Okay, that makes a lot of sense to me.") == [
        "Okay, that makes a",
        "lot of sense to me.",
    ]
    assert split_first_words("I see, well, that is a very good point indeed.") == [
        "I see,",
        "well, that is a very good point indeed.",
    ]
    assert split_first_words("That was six words in total.") == ["That was six words in total."]


async def test_a_kept_synthesis_takes_no_slot_and_skips_the_queue(engine: EspeakEngine) -> None:
    cache = CachedTTSEngine(engine)
    voice = BoundedVoice(cache, voice="en-us")
    scheduler = SynthesisScheduler(slots=1)
    deadline = asyncio.get_running_loop().time()
    said = "Tell me about your last project."
    first = [
        c async for c in scheduler.synthesize(voice, said, deadline=deadline, sample_rate=16000)
    ]
    holder = scheduler.slot(deadline)
    await holder.__aenter__()  # every slot busy, as while decodes run
    try:
        new = scheduler.submit(voice, "Something never said.", deadline=deadline, sample_rate=16000)
        kept = scheduler.submit(voice, said, deadline=deadline + 5, sample_rate=16000)
        again = [c async for c in kept.chunks()]  # served though queued behind busy slots
        assert [c.pcm.tobytes() for c in again] == [c.pcm.tobytes() for c in first]
        await asyncio.sleep(0.05)
        assert scheduler.waiting == 1, "the new text still waits for a slot"
    finally:
        await holder.__aexit__(None, None, None)
    assert [c async for c in new.chunks()], "and gets it once the slot is free"
    await new.aclose()
    await kept.aclose()
    assert cache.stats().hits == 1


async def test_only_one_plain_sentence_is_taken_as_kept(engine: EspeakEngine) -> None:
    voice = BoundedVoice(CachedTTSEngine(engine), voice="en-us")
    for text in ("First sentence.", "Second one."):
        assert [c async for c in voice.synthesize(text, sample_rate=16000)]
    assert voice.ready("First sentence.", sample_rate=16000) is not None
    assert voice.ready("First sentence.", sample_rate=22050) is None  # another rate: not kept
    # Two sentences are two syntheses to the voice: synthesize decides (bounds, skips).
    assert voice.ready("First sentence. Second one.", sample_rate=16000) is None
    assert voice.ready("Привет, как дела?", sample_rate=16000) is None  # another voice's script
