"""The listener at a pause: the words so far are decoded before the end silence runs out, and
that decode is the turn's final when it ends there (in process, on virtual time)."""

from __future__ import annotations

import numpy as np
import pytest

from visavis.config import MIN_PAUSE_MS, Settings
from visavis.speech.listener import (
    FinalText,
    PartialText,
    TentativeText,
    VoiceListener,
)
from visavis.speech.vad import EndpointOptions, SpeechResumed, SpeechStarted
from visavis.testing import EnergyDetector, FakeSTT, run_virtual
from visavis.testing.stt import hear_turn, silence, tone

FIRST, WHOLE = "i would like", "i would like to talk about pipelines"
OPTIONS = EndpointOptions(end_silence_ms=600, pause_ms=200)


def test_the_pause_decode_is_the_final_when_the_turn_ends_there() -> None:
    async def scenario() -> None:
        stt = FakeSTT({440: FIRST}, decode_s=0.3)
        listener = VoiceListener(stt, OPTIONS, detector=EnergyDetector())
        arrivals: list[float] = []
        audio = np.concatenate([silence(0.3), tone(440, 1.0), silence(1)])
        events = await hear_turn(listener, audio, arrivals)
        kinds = [type(e) for e in events if not isinstance(e, PartialText)]
        assert kinds == [SpeechStarted, TentativeText, FinalText]
        tentative = next(e for e in events if isinstance(e, TentativeText))
        final = events[-1]
        assert isinstance(final, FinalText)
        assert tentative.transcript.text == final.transcript.text == FIRST
        assert tentative.transcript.segments[0].start == final.transcript.segments[0].start
        # One decode served both: the final did not decode the utterance again.
        assert [t.text for t in stt.decoded if t.final] == [FIRST]
        # ... so the end of the turn waited for no decode (0.3 s) of its own.
        assert arrivals[-1] - final.utterance.ended_at < 0.3

    run_virtual(scenario())


def test_speech_after_the_pause_voids_its_words() -> None:
    async def scenario() -> None:
        stt = FakeSTT({440: FIRST, 660: WHOLE})
        listener = VoiceListener(stt, OPTIONS, detector=EnergyDetector())
        audio = np.concatenate([silence(0.3), tone(440, 0.6), silence(0.4), tone(660, 1.5)])
        events = await hear_turn(listener, np.concatenate([audio, silence(1.0)]))
        words = [
            (type(e).__name__, e.transcript.text)
            for e in events
            if isinstance(e, TentativeText | FinalText)
        ]
        assert words == [
            ("TentativeText", FIRST),
            ("TentativeText", WHOLE),
            ("FinalText", WHOLE),
        ]
        kinds = [type(e) for e in events]
        assert kinds.index(SpeechResumed) > kinds.index(TentativeText)

    run_virtual(scenario())


def _end_wait(phrase: str) -> float:
    """How long after the speech the turn ends, with words ``phrase``, when finished-sounding
    words may end it after 300 ms instead of 600."""

    async def scenario() -> float:
        stt = FakeSTT({440: phrase}, decode_s=0.05)
        listener = VoiceListener(stt, OPTIONS, detector=EnergyDetector(), finished_end_ms=300)
        events = await hear_turn(
            listener, np.concatenate([silence(0.3), tone(440, 1.0), silence(1)])
        )
        final = events[-1]
        assert isinstance(final, FinalText) and final.transcript.text == phrase
        return final.utterance.ended_at - final.utterance.speech_end

    return run_virtual(scenario())


def test_words_that_sound_finished_end_the_turn_sooner() -> None:
    assert _end_wait("I build data pipelines.") == pytest.approx(0.3, abs=0.04)
    assert _end_wait("I would like to") == pytest.approx(0.6, abs=0.04)


def test_the_shortest_pause_the_settings_take_is_the_shortest_the_endpointer_takes() -> None:
    EndpointOptions(pause_ms=MIN_PAUSE_MS)
    with pytest.raises(ValueError, match="pause_ms"):
        EndpointOptions(pause_ms=MIN_PAUSE_MS - 1)
    with pytest.raises(ValueError, match="VISAVIS_STT_PAUSE_MS"):
        Settings(stt_pause_ms=MIN_PAUSE_MS - 50)
    assert Settings(stt_pause_ms=0).stt_pause_ms == 0
