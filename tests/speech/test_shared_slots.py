"""Syntheses and local decodes share the instance's cores, most urgent first; a decode nobody
waits on now (a file) never takes the last free slot."""

from __future__ import annotations

import asyncio
import os

import numpy as np

from visavis.components import speech_schedulers
from visavis.config import Settings
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import Segment
from visavis.speech.stt.local import Audio, LocalSTTEngine
from visavis.speech.tts.espeak import EspeakEngine

SPEECH = np.full(16000, 1000, np.int16)


class RecordingEngine(LocalSTTEngine):
    """A local engine whose decode takes a little CPU time and says when it ran."""

    def __init__(self, scheduler: DeadlineScheduler, ran: list[str]) -> None:
        super().__init__(scheduler=scheduler, partial_interval_s=None)
        self.ran = ran

    def _load(self) -> None:
        pass

    def _release(self) -> None:
        pass

    def _decode(self, audio: Audio, *, final: bool, prompt: str | None = None) -> list[Segment]:
        self.ran.append("decode")
        return [Segment("hello", 0.0, len(audio) / 16000)]


async def _hold(scheduler: DeadlineScheduler, slots: int) -> list[object]:
    deadline = asyncio.get_running_loop().time() - 1
    holders = [scheduler.slot(deadline) for _ in range(slots)]
    for holder in holders:
        await holder.__aenter__()
    return holders


async def test_the_decode_a_turn_waits_for_goes_before_a_sentence_due_later() -> None:
    synthesis, decodes = speech_schedulers(Settings(), remote_voices=False)
    assert synthesis is decodes and synthesis.slots == (os.cpu_count() or 1)
    ran: list[str] = []
    engine = RecordingEngine(decodes, ran)
    holders = await _hold(synthesis, synthesis.slots)
    loop = asyncio.get_running_loop()

    async def sentence() -> None:
        job = synthesis.submit(
            EspeakEngine(), "Later.", deadline=loop.time() + 5, sample_rate=16000
        )
        async for _ in job.chunks():
            pass
        ran.append("sentence")

    speaking = asyncio.create_task(sentence())
    await asyncio.sleep(0.01)
    hearing = asyncio.create_task(engine.transcribe(SPEECH))
    await asyncio.sleep(0.01)
    assert ran == [] and synthesis.waiting == 2
    for holder in holders:
        await holder.__aexit__(None, None, None)  # type: ignore[attr-defined]
        await asyncio.sleep(0)
    transcript, _ = await asyncio.gather(hearing, speaking)
    assert transcript.text == "hello"
    assert ran[0] == "decode"


async def test_a_file_decode_leaves_a_slot_for_the_turns() -> None:
    scheduler = DeadlineScheduler(2)
    ran: list[str] = []
    engine = RecordingEngine(scheduler, ran)
    (holder,) = await _hold(scheduler, 1)
    loop = asyncio.get_running_loop()
    # The audio API's deadline for an upload: later than now by its length and a slack.
    upload = asyncio.create_task(engine.transcribe(SPEECH, deadline=loop.time() + 2))
    await asyncio.sleep(0.05)
    assert not upload.done() and scheduler.waiting == 1
    turn = await asyncio.wait_for(engine.transcribe(SPEECH), 5)
    assert turn.text == "hello" and not upload.done()
    await holder.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert (await asyncio.wait_for(upload, 5)).text == "hello"


def test_the_shared_slots_can_be_sized() -> None:
    synthesis, decodes = speech_schedulers(Settings(speech_slots=3), remote_voices=False)
    assert synthesis is decodes and synthesis.slots == 3


def test_own_bounds_and_remote_work_keep_their_own_slots() -> None:
    for settings, remote in [
        (Settings(tts_concurrency=1), False),
        (Settings(stt_concurrency=3), False),
        (Settings(stt_engine="openai"), False),
        (Settings(), True),
    ]:
        synthesis, decodes = speech_schedulers(settings, remote_voices=remote)
        assert synthesis is not decodes
        assert synthesis.slots == (settings.tts_concurrency or os.cpu_count() or 1)
        assert decodes.slots == (settings.stt_concurrency or os.cpu_count() or 1)
