"""One microphone heard end to end: speech starts, partial words, the final turn, on real speech
streamed as 20 ms frames; silence and noise start nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tests.fakes.openai_audio import FakeOpenAIAudio
from tests.speech.stt.conftest import SENTENCE, piper_speech, word_errors
from visavis.speech.listener import (
    FinalText,
    ListenerEvent,
    PartialText,
    TranscriptionFailed,
    VoiceListener,
)
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.openai_api import OpenAITranscriptionAPI
from visavis.speech.stt.openai_compatible import OpenAICompatibleSTTEngine
from visavis.speech.stt.whisper import FasterWhisperEngine
from visavis.speech.vad import EndpointOptions, SpeechStarted

RATE = 16000
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sentence() -> np.ndarray:
    return piper_speech(SENTENCE)


@pytest.fixture
async def engine() -> AsyncIterator[FasterWhisperEngine]:
    whisper = FasterWhisperEngine(scheduler=DeadlineScheduler(1), partial_interval_s=0.5)
    await whisper.load()
    yield whisper
    await whisper.aclose()


async def _listen(
    listener: VoiceListener, audio: np.ndarray, *, finals: int, pace_s: float = 0.004
) -> list[ListenerEvent]:
    """Stream ``audio`` in 20 ms frames; collect events until ``finals`` turns ended."""
    events: list[ListenerEvent] = []

    async def read() -> None:
        async for event in listener.events():
            events.append(event)
            if sum(isinstance(e, FinalText | TranscriptionFailed) for e in events) == finals:
                return

    reader = asyncio.create_task(read())
    for start in range(0, len(audio), 320):
        listener.push(audio[start : start + 320])
        await asyncio.sleep(pace_s)
    if finals:
        await asyncio.wait_for(reader, 20)
    else:
        await asyncio.sleep(0.5)
        reader.cancel()
    await listener.aclose()
    return events


async def test_a_spoken_turn(engine: FasterWhisperEngine, sentence: np.ndarray) -> None:
    audio = np.concatenate([np.zeros(RATE, np.int16), sentence, np.zeros(RATE, np.int16)])
    # In real time, as a microphone sends: streamed faster, the final can overtake every
    # partial on a busy machine (a partial gives way to the final of its own speech).
    events = await _listen(VoiceListener(engine), audio, finals=1, pace_s=0.02)
    assert isinstance(events[0], SpeechStarted)
    assert events[0].onset == pytest.approx(1.0, abs=0.2)
    partials = [e for e in events if isinstance(e, PartialText)]
    assert partials and all(p.start == pytest.approx(0.7, abs=0.2) for p in partials)
    final = events[-1]
    assert isinstance(final, FinalText)
    assert word_errors(SENTENCE, final.transcript.text) <= 1, final.transcript.text
    assert not final.utterance.cut
    words = final.transcript.words
    # Word times are on the stream's clock: the speech began one second in.
    assert words[0].start == pytest.approx(1.0, abs=0.35)
    assert words[-1].end <= final.utterance.speech_end + 0.25


LONG_TURN = (
    "I built the billing system for a small bank.",
    "It took us two years and many late nights.",
    "Now it handles a million payments every day.",
)


async def test_two_turns_and_a_cut_one(engine: FasterWhisperEngine, sentence: np.ndarray) -> None:
    gap = np.zeros(RATE, np.int16)
    long = [piper_speech(text) for text in LONG_TURN]  # about 8 s without a pause
    audio = np.concatenate([gap, sentence, gap, *long, gap])
    options = EndpointOptions(max_utterance_s=5.0)
    events = await _listen(VoiceListener(engine, options), audio, finals=3)
    finals = [e for e in events if isinstance(e, FinalText)]
    assert [f.utterance.cut for f in finals] == [False, True, False]
    assert finals[1].transcript.words[0].start > finals[0].utterance.ended_at
    # The part after the cut goes on where the cut one stopped, with no new speech onset.
    assert finals[2].utterance.start == pytest.approx(finals[1].utterance.ended_at)
    assert finals[2].transcript.words[0].start >= finals[2].utterance.start
    assert sum(isinstance(e, SpeechStarted) for e in events) == 2
    assert word_errors(SENTENCE, finals[0].transcript.text) <= 1
    said = " ".join(f.transcript.text for f in finals[1:])
    # A word cut in two at the limit may be misheard on either side of the cut.
    assert word_errors(" ".join(LONG_TURN), said) <= 4, said


async def test_silence_and_noise_start_nothing(engine: FasterWhisperEngine) -> None:
    noise = np.random.default_rng(0).normal(0, 0.05 * 32768, 4 * RATE).astype(np.int16)
    audio = np.concatenate([np.zeros(2 * RATE, np.int16), noise])
    assert await _listen(VoiceListener(engine), audio, finals=0, pace_s=0) == []


async def test_a_failed_transcription_is_an_event(sentence: np.ndarray) -> None:
    fake = FakeOpenAIAudio(fail_status=503)
    with fake.serve() as url:
        remote = OpenAICompatibleSTTEngine(OpenAITranscriptionAPI(base_url=url, timeout_s=5))
        audio = np.concatenate([np.zeros(RATE // 2, np.int16), sentence, np.zeros(RATE, np.int16)])
        events = await _listen(VoiceListener(remote), audio, finals=1, pace_s=0)
        await remote.aclose()
    failed = events[-1]
    assert isinstance(failed, TranscriptionFailed)
    assert "503" in failed.error.message


async def test_end_of_audio_ends_the_turn_and_close_is_idempotent(
    engine: FasterWhisperEngine, sentence: np.ndarray
) -> None:
    listener = VoiceListener(engine)
    listener.push(np.concatenate([np.zeros(RATE // 2, np.int16), sentence]))
    listener.end_of_audio()
    events = []
    async for event in listener.events():
        events.append(event)
        if isinstance(event, FinalText):
            break
    assert word_errors(SENTENCE, events[-1].transcript.text) <= 1
    await listener.aclose()
    await listener.aclose()
    listener.push(sentence)  # ignored once closed
