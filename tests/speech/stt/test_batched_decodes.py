"""Decodes that wait for a slot together are decoded together: one pass of the model for a
burst of turns ending at once, each utterance heard as it would be alone."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence

import numpy as np
import pytest

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import Segment
from visavis.speech.stt.errors import STTModelError
from visavis.speech.stt.local import Audio, LocalSTTEngine
from visavis.speech.stt.whisper import FasterWhisperEngine

from .conftest import piper_speech

SENTENCES = (
    "I moved our billing system to a new database last spring.",
    "Yes.",
    "My team of four shipped the mobile app in three months, on time.",
)


async def _busy(scheduler: DeadlineScheduler) -> object:
    holder = scheduler.slot(asyncio.get_running_loop().time() - 1)
    await holder.__aenter__()
    return holder


async def _free(holder: object) -> None:
    await holder.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_turns_ending_together_are_decoded_in_one_pass_and_heard_as_alone() -> None:
    alone = FasterWhisperEngine(scheduler=DeadlineScheduler(1))
    together = FasterWhisperEngine(scheduler=DeadlineScheduler(1))
    try:
        said = [piper_speech(text) for text in SENTENCES]
        # Three utterances padded with silence to one length (one input width), and one 2 s
        # longer: that one needs a pass of its own.
        length = max(len(pcm) for pcm in said)
        speech = [np.pad(pcm, (0, length - len(pcm))) for pcm in said]
        speech.append(np.pad(said[0], (0, length + 32000 - len(said[0]))))
        singly = [await alone.transcribe(pcm) for pcm in speech]
        assert alone.passes == 4
        await together.load()
        holder = await _busy(together.scheduler)  # the slot is taken, as in a burst
        decodes = [asyncio.create_task(together.transcribe(pcm)) for pcm in speech]
        await asyncio.sleep(0.05)
        await _free(holder)
        batched = await asyncio.gather(*decodes)
        assert together.passes == 2
        for one, other in zip(singly, batched, strict=True):
            assert other.text == one.text
            assert [w.text for w in other.words] == [w.text for w in one.words]
            ends = [(w.end, v.end) for w, v in zip(one.words, other.words, strict=True)]
            # Batched arithmetic moves a word's alignment by a few 20 ms frames (0.12 s seen).
            assert all(abs(a - b) <= 0.2 for a, b in ends), ends
            assert other.duration == one.duration
    finally:
        await alone.aclose()
        await together.aclose()


async def test_a_caller_that_leaves_leaves_the_others_their_words() -> None:
    engine = FasterWhisperEngine(scheduler=DeadlineScheduler(1))
    try:
        await engine.load()
        holder = await _busy(engine.scheduler)
        leaving = asyncio.create_task(engine.transcribe(piper_speech(SENTENCES[0])))
        staying = asyncio.create_task(engine.transcribe(piper_speech(SENTENCES[2])))
        await asyncio.sleep(0.05)
        leaving.cancel()
        await _free(holder)
        transcript = await staying
        assert "mobile app" in transcript.text.lower()
        assert leaving.cancelled() and engine.passes == 1
        assert engine.scheduler.busy == 0 and engine.scheduler.waiting == 0
    finally:
        await engine.aclose()


class BatchRecorder(LocalSTTEngine):
    """Records the batches it is given; fails on demand."""

    def __init__(self, scheduler: DeadlineScheduler, *, fail: bool = False) -> None:
        super().__init__(scheduler=scheduler, partial_interval_s=None)
        self.batches: list[tuple[bool, int]] = []
        self.prompts: list[str | None] = []
        self.fail = fail

    def _load(self) -> None:
        pass

    def batch_key(self, samples: int) -> Hashable | None:
        return "short" if samples <= 16000 * 20 else None

    def _decode(self, audio: Audio, *, final: bool, prompt: str | None = None) -> list[Segment]:
        return self._decode_batch([audio], final=final, prompt=prompt)[0]

    def _decode_batch(
        self, audios: Sequence[Audio], *, final: bool, prompt: str | None = None
    ) -> list[list[Segment]]:
        self.batches.append((final, len(audios)))
        self.prompts.append(prompt)
        if self.fail:
            raise STTModelError("the model file is damaged")
        return [[Segment(f"{len(audio)}", 0.0, len(audio) / 16000)] for audio in audios]


async def test_only_the_decodes_turns_wait_for_are_batched() -> None:
    scheduler = DeadlineScheduler(2)
    engine = BatchRecorder(scheduler)
    holders = [await _busy(scheduler), await _busy(scheduler)]
    loop = asyncio.get_running_loop()
    short = np.ones(16000, np.int16)
    finals = [asyncio.create_task(engine.transcribe(short)) for _ in range(3)]
    partials = [
        asyncio.create_task(
            engine._transcribe(short, language="en", final=False, deadline=loop.time() + 0.5)
        )
        for _ in range(2)
    ]
    long_file = np.ones(16000 * 30, np.int16)
    files = [
        asyncio.create_task(engine.transcribe(long_file, deadline=loop.time() + 30))
        for _ in range(2)
    ]
    await asyncio.sleep(0.05)
    for holder in holders:
        await _free(holder)
    done = await asyncio.gather(*finals, *partials, *files)
    assert [t.text for t in done] == ["16000"] * 5 + ["480000"] * 2
    # The finals a turn waits for go together; partials and files one by one.
    assert sorted(engine.batches) == [(False, 1), (False, 1), (True, 1), (True, 1), (True, 3)]


async def test_an_engine_error_reaches_every_caller_of_the_batch() -> None:
    scheduler = DeadlineScheduler(1)
    engine = BatchRecorder(scheduler, fail=True)
    holder = await _busy(scheduler)
    calls = [asyncio.create_task(engine.transcribe(np.ones(8000, np.int16))) for _ in range(3)]
    await asyncio.sleep(0.05)
    await _free(holder)
    for call in calls:
        with pytest.raises(STTModelError, match="damaged"):
            await call
    assert engine.batches == [(True, 3)] and scheduler.busy == 0


async def test_decodes_with_different_prompts_are_not_batched_together() -> None:
    """A batch shares one prompt: each conversation's names stay its own."""
    scheduler = DeadlineScheduler(1)
    engine = BatchRecorder(scheduler)
    holder = await _busy(scheduler)
    short = np.ones(16000, np.int16)
    prompts = ["Siobhan, Zalando", None, "Siobhan, Zalando", "Ngozi Okonjo"]
    calls = [asyncio.create_task(engine.transcribe(short, prompt=p)) for p in prompts]
    await asyncio.sleep(0.05)
    await _free(holder)
    await asyncio.gather(*calls)
    by_prompt = sorted(zip(engine.prompts, (n for _, n in engine.batches), strict=True), key=str)
    assert by_prompt == [("Ngozi Okonjo", 1), ("Siobhan, Zalando", 2), (None, 1)]
