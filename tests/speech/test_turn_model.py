"""The audio turn model at a pause: where the words sound finished and the model judges the turn
complete, it ends after the short silence; elsewhere, and without a usable model, the end
silence decides. Real Smart Turn v3 (skipped where the optional ``pipecat-ai`` is not
installed), real Piper speech, a recognizer that hears the given words."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest

from tests.speech.stt.conftest import piper_speech
from visavis.speech.listener import FinalText, ListenerEvent, VoiceListener
from visavis.speech.turn_model import TurnModel, TurnModelUnavailableError
from visavis.speech.vad import EndpointOptions
from visavis.testing import EnergyDetector, FakeSTT, run_virtual
from visavis.testing.stt import silence, tone

RATE = 16000
#: A long end silence, so the model's verdict (about 0.1 s of one core) surely comes first.
OPTIONS = EndpointOptions(end_silence_ms=2000, pause_ms=200)
QUICK_MS = 300


def _installed() -> TurnModel:
    try:
        model = TurnModel(timeout_s=5)
    except TurnModelUnavailableError:
        pytest.skip("the optional turn model (pipecat-ai) is not installed")
    model.load()
    return model


async def _end_wait(listener: VoiceListener, audio: np.ndarray, pace_s: float) -> float:
    """Stream ``audio`` in 20 ms frames, ``pace_s`` apart; how long after the speech ended the
    turn did (seconds of audio)."""
    final: list[ListenerEvent] = []

    async def read() -> None:
        async for event in listener.events():
            if isinstance(event, FinalText):
                final.append(event)
                return

    reader = asyncio.create_task(read())
    for start in range(0, len(audio), 320):
        listener.push(audio[start : start + 320])
        await asyncio.sleep(pace_s)
    await asyncio.wait_for(reader, 10)
    await listener.aclose()
    (event,) = final
    assert isinstance(event, FinalText)
    return event.utterance.ended_at - event.utterance.speech_end


@pytest.mark.slow
@pytest.mark.parametrize(
    ("said", "finished"),
    [("I built the billing system.", True), ("I would like to talk about the", False)],
)
def test_a_finished_sentence_ends_after_the_short_silence_and_a_cut_one_does_not(
    said: str, finished: bool
) -> None:
    model = _installed()
    speech = piper_speech(said)
    audio = np.concatenate([np.zeros(RATE // 2, np.int16), speech, np.zeros(3 * RATE, np.int16)])
    stt = FakeSTT({}, unknown=said)
    listener = VoiceListener(stt, OPTIONS, turn_model=model, turn_model_end_ms=QUICK_MS)
    waited = asyncio.run(_end_wait(listener, audio, 0.02))
    if finished:
        assert waited < 1.0  # not the 2 s end silence
    else:
        assert waited >= 1.9  # the words go on: whatever the model says, the end silence decides


def test_a_missing_model_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(TurnModelUnavailableError):
        TurnModel(path=tmp_path / "smart-turn-v3.2-cpu.onnx")


def test_an_unusable_model_leaves_the_end_to_the_end_silence(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = tmp_path / "smart-turn-v3.2-cpu.onnx"
    wrong.write_bytes(b"not the model")

    async def scenario() -> float:
        stt = FakeSTT({440: "I built the billing system."})
        listener = VoiceListener(
            stt,
            EndpointOptions(end_silence_ms=600, pause_ms=200),
            detector=EnergyDetector(),
            turn_model=TurnModel(path=wrong),
            turn_model_end_ms=QUICK_MS,
        )
        audio = np.concatenate([silence(0.3), tone(440, 1.0), silence(1.5)])
        return await _end_wait(listener, audio, 0.02)

    with caplog.at_level(logging.WARNING, logger="visavis.speech.listener"):
        waited = run_virtual(scenario())
    assert waited == pytest.approx(0.6, abs=0.04)
    assert "no turn model" in caplog.text
