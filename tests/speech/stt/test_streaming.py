"""The buffered stream's own rules, with a scripted decoder standing in for a model."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from visavis.speech.stt import STTStreamClosedError, Transcript, TranscriptionError
from visavis.speech.stt.base import Segment, Word
from visavis.speech.stt.streaming import BufferedSTTStream


class ScriptedDecoder:
    """Says how many samples it was given; slow on purpose, records overlap and deadlines."""

    def __init__(self, delay_s: float = 0.02, fail_partials: bool = False) -> None:
        self.delay_s = delay_s
        self.fail_partials = fail_partials
        self.calls: list[tuple[int, bool, float]] = []
        self.running = 0
        self.most = 0

    async def __call__(self, pcm: np.ndarray, final: bool, deadline: float) -> Transcript:
        self.calls.append((len(pcm), final, deadline - asyncio.get_running_loop().time()))
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.running -= 1
        if self.fail_partials and not final:
            raise TranscriptionError("partial failed")
        seconds = len(pcm) / 16000
        word = Word(f"w{len(pcm)}", 0.0, seconds)
        segment = Segment(word.text, 0.0, seconds, (word,))
        return Transcript(word.text, (segment,), seconds, final)


def _frames(seconds: float) -> list[np.ndarray]:
    return [np.zeros(320, np.int16) for _ in range(int(seconds * 50))]


async def test_partials_every_interval_then_the_final() -> None:
    decoder = ScriptedDecoder()
    stream = BufferedSTTStream(decoder, partial_interval_s=0.2)
    for frame in _frames(1.0):
        stream.push_audio(frame)
        await asyncio.sleep(0.005)
    final = await stream.finish()
    seen = [t async for t in stream.transcripts()]
    assert seen[-1] is final and final.final and final.duration == pytest.approx(1.0)
    partials = seen[:-1]
    assert len(partials) >= 2 and not any(p.final for p in partials)
    assert decoder.most == 1  # never two decodes of one stream at once
    # Partials wait behind finals: their deadline lies an interval ahead, the final's is now.
    assert all(
        ahead == pytest.approx(0.2, abs=0.05) for _, final_, ahead in decoder.calls if not final_
    )
    assert decoder.calls[-1][1] and decoder.calls[-1][2] <= 0.01


async def test_no_partials_when_turned_off() -> None:
    decoder = ScriptedDecoder()
    stream = BufferedSTTStream(decoder, partial_interval_s=None)
    for frame in _frames(1.0):
        stream.push_audio(frame)
    await stream.finish()
    assert [final for _, final, _ in decoder.calls] == [True]


async def test_partials_decode_a_window_and_keep_stream_times() -> None:
    decoder = ScriptedDecoder()
    stream = BufferedSTTStream(decoder, partial_interval_s=3.0, partial_window_s=1.0)
    stream.push_audio(np.zeros(3 * 16000, np.int16))
    partial = await anext(stream.transcripts())
    assert decoder.calls[0][0] == 16000
    assert partial.words[0].start == pytest.approx(2.0)
    assert partial.duration == pytest.approx(3.0)
    final = await stream.finish()
    assert decoder.calls[-1][0] == 3 * 16000 and final.words[0].start == 0.0


async def test_a_failed_partial_reaches_the_reader() -> None:
    stream = BufferedSTTStream(ScriptedDecoder(fail_partials=True), partial_interval_s=0.1)
    stream.push_audio(np.zeros(1600, np.int16))
    with pytest.raises(TranscriptionError, match="partial failed"):
        await anext(stream.transcripts())
    await stream.aclose()


async def test_closed_streams_refuse_audio_and_close_idempotently() -> None:
    stream = BufferedSTTStream(ScriptedDecoder(delay_s=1.0), partial_interval_s=0.1)
    stream.push_audio(np.zeros(1600, np.int16))  # starts a slow partial
    await stream.aclose()
    await stream.aclose()
    with pytest.raises(STTStreamClosedError):
        stream.push_audio(np.zeros(10, np.int16))
    with pytest.raises(STTStreamClosedError):
        await stream.finish()
    assert [t async for t in stream.transcripts()] == []


async def test_only_pcm16_is_accepted() -> None:
    stream = BufferedSTTStream(ScriptedDecoder(), partial_interval_s=None)
    with pytest.raises(TypeError, match="int16"):
        stream.push_audio(np.zeros(10, np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        BufferedSTTStream(ScriptedDecoder(), partial_interval_s=0)
    await stream.aclose()
