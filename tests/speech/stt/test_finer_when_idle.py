"""Live turns heard by the finer model while the CPU has room, by the fast one when it has not
(in process, on virtual time; the two models are fakes that say different words)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from visavis.components import build_stt
from visavis.config import Settings
from visavis.speech.listener import FinalText, ListenerEvent, PartialText, VoiceListener
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.finer_when_idle import SECONDS_PER_AUDIO_S, FinerWhenIdle
from visavis.speech.stt.whisper import FasterWhisperEngine
from visavis.speech.vad import EndpointOptions
from visavis.testing import EnergyDetector, FakeSTT, run_virtual
from visavis.testing.stt import hear_turn, silence, tone

OPTIONS = EndpointOptions(end_silence_ms=600, pause_ms=200)


def _engines(fine_decode_s: float = 0.1) -> tuple[FakeSTT, FakeSTT, DeadlineScheduler]:
    fast = FakeSTT({440: "i heard you roughly"}, decode_s=0.02)
    fine = FakeSTT({440: "i heard you clearly"}, decode_s=fine_decode_s)
    return fast, fine, DeadlineScheduler(2)


async def _turn(engine: FinerWhenIdle, seconds: float = 2.0) -> list[ListenerEvent]:
    """One spoken turn streamed in real time; every event until its final."""
    listener = VoiceListener(engine, OPTIONS, detector=EnergyDetector())
    return await hear_turn(
        listener, np.concatenate([silence(0.3), tone(440, seconds), silence(1.0)])
    )


def _final(events: list[ListenerEvent]) -> str:
    return next(e.transcript.text for e in events if isinstance(e, FinalText))


def test_an_idle_instance_hears_the_turn_with_the_finer_model() -> None:
    async def scenario() -> None:
        fast, fine, scheduler = _engines()
        engine = FinerWhenIdle(fast, fine, scheduler=scheduler, budget_s=0.3)
        events = await _turn(engine)
        assert _final(events) == "i heard you clearly"
        partials = [e.transcript.text for e in events if isinstance(e, PartialText)]
        assert partials and all("i heard you roughly".startswith(text) for text in partials)
        assert engine.decoded == {"fine": 1, "fast": 0}

    run_virtual(scenario())


def test_a_busy_instance_hears_it_with_the_fast_model() -> None:
    async def scenario() -> None:
        fast, fine, scheduler = _engines()
        engine = FinerWhenIdle(fast, fine, scheduler=scheduler, budget_s=0.3)
        held = asyncio.Event()
        release = asyncio.Event()

        async def other_decodes() -> None:
            async with scheduler.slot(0.0), scheduler.slot(0.0):
                held.set()
                await release.wait()

        others = asyncio.create_task(other_decodes())
        await held.wait()
        events = await _turn(engine)
        release.set()
        await others
        assert _final(events) == "i heard you roughly"
        assert engine.decoded == {"fine": 0, "fast": 1}

    run_virtual(scenario())


def test_a_turn_too_long_for_the_time_left_goes_to_the_fast_model() -> None:
    async def scenario() -> None:
        fast, fine, scheduler = _engines()
        # 0.07 s per second of audio: 8 s of speech needs 0.56 s, more than the 0.3 s left.
        engine = FinerWhenIdle(fast, fine, scheduler=scheduler, budget_s=0.3)
        assert _final(await _turn(engine, seconds=8.0)) == "i heard you roughly"
        assert _final(await _turn(engine, seconds=2.0)) == "i heard you clearly"

    run_virtual(scenario())


def test_a_finer_model_slower_than_thought_is_given_shorter_turns_then_tried_again() -> None:
    async def scenario() -> None:
        # The finer model takes 1 s on a 2.5 s utterance: 0.4 s per second of audio, where
        # 0.07 was assumed; then the turns go to the fast model, until the estimate has
        # drifted back far enough to try the finer one again.
        fast, fine, scheduler = _engines(fine_decode_s=1.0)
        engine = FinerWhenIdle(fast, fine, scheduler=scheduler, budget_s=0.3)
        texts = [_final(await _turn(engine)) for _ in range(12)]
        assert texts[:3] == ["i heard you clearly", "i heard you roughly", "i heard you roughly"]
        assert texts.count("i heard you clearly") >= 2
        assert engine.seconds_per_audio_s > SECONDS_PER_AUDIO_S

    run_virtual(scenario())


def test_closing_closes_both_models_and_can_be_repeated() -> None:
    async def scenario() -> None:
        fast, fine, scheduler = _engines()
        engine = FinerWhenIdle(fast, fine, scheduler=scheduler, budget_s=0.3)
        await engine.aclose()
        await engine.aclose()
        assert fast.closed and fine.closed

    run_virtual(scenario())


def test_the_budget_must_be_positive() -> None:
    fast, fine, scheduler = _engines()
    with pytest.raises(ValueError, match="budget_s"):
        FinerWhenIdle(fast, fine, scheduler=scheduler, budget_s=0)


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_setting_pairs_the_live_model_with_the_files_model() -> None:
    scheduler = DeadlineScheduler(2)
    live, files = build_stt(_settings(stt_idle_whisper_model="base"), scheduler=scheduler)
    assert isinstance(live, FinerWhenIdle)
    assert isinstance(live.fast, FasterWhisperEngine) and live.fast.options.model == "tiny.en"
    assert isinstance(live.fine, FasterWhisperEngine) and live.fine.options.model == "base"
    # Greedy like live turns, and one copy of base in memory: the files' engine loads it.
    assert live.fine.options.beam_size == 1
    assert isinstance(files, FasterWhisperEngine) and files.options.beam_size == 5
    assert live.fine._source is files
    # The decode starts at the 200 ms pause; the turn ends at 600 ms; 100 ms for the answer.
    assert live.budget_s == pytest.approx(0.3)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"stt_idle_whisper_model": "tiny.en"},
        {"stt_idle_whisper_model": "base", "stt_pause_ms": 0},
        {"stt_idle_whisper_model": "base", "stt_engine": "moonshine"},
    ],
    ids=["off", "the same model", "no pause decode", "not whisper"],
)
def test_without_a_finer_model_to_use_live_turns_keep_one_engine(
    values: dict[str, object],
) -> None:
    live, _ = build_stt(_settings(**values), scheduler=DeadlineScheduler(2))
    assert not isinstance(live, FinerWhenIdle)
