"""Voice activity and end of turn on real (synthesized) speech, silence and noise."""

from __future__ import annotations

import numpy as np
import pytest

from tests.speech.stt.conftest import piper_speech
from visavis.speech.vad import (
    Endpointer,
    EndpointOptions,
    PauseHeard,
    SpeechResumed,
    SpeechStarted,
    Utterance,
)

RATE = 16000


@pytest.fixture(scope="module")
def sentence() -> np.ndarray:
    return piper_speech("Please tell me about the last project you worked on.")


@pytest.fixture(scope="module")
def second() -> np.ndarray:
    return piper_speech("I built the billing system.")


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def _noise(seconds: float, level: float, seed: int = 0) -> np.ndarray:
    samples = np.random.default_rng(seed).normal(0, level, int(seconds * RATE)) * 32768
    return samples.clip(-32768, 32767).astype(np.int16)


def _voiced_span(pcm: np.ndarray) -> tuple[float, float]:
    """Where the signal is audible, by its envelope (the test's own truth)."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    return loud[0] / RATE, loud[-1] / RATE


def _run(audio: np.ndarray, options: EndpointOptions | None = None, frame: int = 320) -> list:
    endpointer = Endpointer(options)
    events = []
    for start in range(0, len(audio), frame):
        events += endpointer.push(audio[start : start + frame])
    return events


def test_one_sentence_is_one_turn_ended_by_the_silence_after_it(sentence: np.ndarray) -> None:
    audio = np.concatenate([_silence(1.0), sentence, _silence(1.5)])
    events = _run(audio, EndpointOptions(end_silence_ms=500))
    assert [type(e) for e in events] == [SpeechStarted, Utterance]
    started, utterance = events
    first, last = _voiced_span(audio)
    assert started.onset == pytest.approx(first, abs=0.1)
    assert started.at - started.onset >= 0.2  # confirmed after min_speech_ms of speech
    assert utterance.onset == started.onset and not utterance.cut
    assert utterance.speech_end == pytest.approx(last, abs=0.15)
    assert utterance.ended_at - utterance.speech_end == pytest.approx(0.5, abs=0.04)
    # The audio handed on starts before the onset (pre-roll) and holds all the speech.
    assert utterance.start == pytest.approx(utterance.onset - 0.3, abs=0.04)
    assert len(utterance.pcm) / RATE >= last - utterance.start
    assert np.array_equal(
        utterance.pcm[: RATE // 10], audio[round(utterance.start * RATE) :][: RATE // 10]
    )


@pytest.mark.parametrize(
    "audio",
    [
        pytest.param(lambda: _silence(5.0), id="silence"),
        pytest.param(lambda: _noise(5.0, 0.02), id="quiet-noise"),
        pytest.param(lambda: _noise(5.0, 0.2, seed=3), id="loud-noise"),
        pytest.param(
            lambda: np.concatenate([_silence(1), _noise(0.05, 0.5), _silence(1)]), id="click"
        ),
        pytest.param(
            lambda: (np.sin(2 * np.pi * 1000 * np.arange(3 * RATE) / RATE) * 6000).astype(np.int16),
            id="tone",
        ),
    ],
)
def test_silence_and_noise_start_no_turn(audio: object) -> None:
    endpointer = Endpointer()
    samples = audio()  # type: ignore[operator]
    assert endpointer.push(samples) + endpointer.flush() == []
    assert not endpointer.speaking


def test_a_pause_shorter_than_the_end_silence_keeps_the_turn(
    sentence: np.ndarray, second: np.ndarray
) -> None:
    short = np.concatenate([_silence(0.5), sentence, _silence(0.25), second, _silence(1.0)])
    long = np.concatenate([_silence(0.5), sentence, _silence(1.5), second, _silence(1.0)])
    options = EndpointOptions(end_silence_ms=600)
    assert [type(e) for e in _run(short, options)] == [SpeechStarted, Utterance]
    assert [type(e) for e in _run(long, options)] == [SpeechStarted, Utterance] * 2


def test_a_pause_is_announced_with_the_audio_the_turn_ends_with(sentence: np.ndarray) -> None:
    audio = np.concatenate([_silence(0.5), sentence, _silence(1.0)])
    events = _run(audio, EndpointOptions(end_silence_ms=600, pause_ms=200))
    assert [type(e) for e in events] == [SpeechStarted, PauseHeard, Utterance]
    _, pause, utterance = events
    assert pause.at - pause.speech_end == pytest.approx(0.2, abs=0.04)
    assert utterance.ended_at - pause.at == pytest.approx(0.4, abs=0.04)
    # What a recognizer decodes at the pause is exactly what the turn hands on.
    assert (pause.start, pause.onset, pause.speech_end) == (
        utterance.start,
        utterance.onset,
        utterance.speech_end,
    )
    assert np.array_equal(pause.pcm, utterance.pcm)
    assert [type(e) for e in _run(audio, EndpointOptions(end_silence_ms=600))] == [
        SpeechStarted,
        Utterance,
    ]


def test_speech_after_a_pause_voids_it_and_the_turn_goes_on(
    sentence: np.ndarray, second: np.ndarray
) -> None:
    audio = np.concatenate([_silence(0.5), sentence, _silence(0.4), second, _silence(1.0)])
    events = _run(audio, EndpointOptions(end_silence_ms=600, pause_ms=200))
    kinds = [type(e) for e in events]
    assert kinds[0] is SpeechStarted and kinds[-1] is Utterance
    assert kinds.count(Utterance) == 1  # one turn: the pause did not end it
    resumed = kinds.index(SpeechResumed)
    assert kinds[resumed - 1] is PauseHeard
    first_pause = events[kinds.index(PauseHeard)]
    utterance = events[-1]
    assert first_pause.speech_end < utterance.speech_end
    assert len(first_pause.pcm) < len(utterance.pcm)
    assert isinstance(events[-2], PauseHeard)  # the last pause is the one the turn ended at
    assert events[-2].speech_end == utterance.speech_end


def test_a_pause_can_end_the_turn_sooner(sentence: np.ndarray, second: np.ndarray) -> None:
    """``end_pause_after`` shortens the silence that ends the turn at this pause only."""
    audio = np.concatenate([_silence(0.5), sentence, _silence(1.0)])
    endpointer = Endpointer(EndpointOptions(end_silence_ms=600, pause_ms=200))
    events: list[object] = []
    for start in range(0, len(audio), 320):
        for event in endpointer.push(audio[start : start + 320]):
            events.append(event)
            if isinstance(event, PauseHeard):
                endpointer.end_pause_after(300)
    assert [type(e) for e in events] == [SpeechStarted, PauseHeard, Utterance]
    utterance = events[-1]
    assert isinstance(utterance, Utterance)
    assert utterance.ended_at - utterance.speech_end == pytest.approx(0.3, abs=0.04)
    # Speech after the pause voids it: the last pause waits the usual end silence again.
    audio = np.concatenate([_silence(0.5), sentence, _silence(0.25), second, _silence(1.5)])
    endpointer = Endpointer(EndpointOptions(end_silence_ms=600, pause_ms=200))
    shortened = False
    utterances = []
    for start in range(0, len(audio), 320):
        for event in endpointer.push(audio[start : start + 320]):
            if isinstance(event, PauseHeard) and not shortened:
                endpointer.end_pause_after(1000)
                shortened = True
            if isinstance(event, Utterance):
                utterances.append(event)
    assert len(utterances) == 1
    assert utterances[0].ended_at - utterances[0].speech_end == pytest.approx(0.6, abs=0.04)


def test_no_turn_ends_while_no_audio_arrives(sentence: np.ndarray) -> None:
    """Only silence heard ends a turn: a microphone that stops sending ends nothing."""
    endpointer = Endpointer()
    events = endpointer.push(np.concatenate([_silence(0.5), sentence]))
    assert [type(e) for e in events] == [SpeechStarted]
    assert endpointer.speaking
    ended = endpointer.flush()  # the stream itself ended
    assert [type(e) for e in ended] == [Utterance]
    assert not endpointer.speaking


def test_an_over_long_utterance_is_cut_and_goes_on(sentence: np.ndarray) -> None:
    speech = np.concatenate([sentence, sentence, sentence])  # about 8 s without a pause
    options = EndpointOptions(max_utterance_s=3.0)
    events = _run(np.concatenate([_silence(0.5), speech, _silence(1.0)]), options)
    utterances = [e for e in events if isinstance(e, Utterance)]
    assert [type(e) for e in events][0] is SpeechStarted
    assert len(utterances) >= 3
    assert all(u.cut for u in utterances[:-1]) and not utterances[-1].cut
    assert all(len(u.pcm) / RATE <= 3.0 + 0.04 for u in utterances)
    for before, after in zip(utterances, utterances[1:], strict=False):
        assert after.start == pytest.approx(before.ended_at)  # nothing lost between them


def test_any_frame_size_gives_the_same_turns(sentence: np.ndarray) -> None:
    audio = np.concatenate([_silence(0.7), sentence, _silence(1.0)])
    whole = _run(audio, frame=len(audio))
    odd = _run(audio, frame=333)
    assert [(type(e), e.onset) for e in whole] == [(type(e), e.onset) for e in odd]


def test_reset_restarts_the_clock(sentence: np.ndarray) -> None:
    endpointer = Endpointer()
    endpointer.push(np.concatenate([_silence(0.5), sentence]))
    endpointer.reset()
    assert endpointer.time == 0 and not endpointer.speaking
    events = endpointer.push(np.concatenate([_silence(0.5), sentence, _silence(1)]))
    assert events[0].onset == pytest.approx(0.5, abs=0.15)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="release_threshold"):
        EndpointOptions(threshold=0.3, release_threshold=0.5)
    with pytest.raises(ValueError, match="end_silence_ms"):
        EndpointOptions(end_silence_ms=50)
    with pytest.raises(ValueError, match="pause_ms"):
        EndpointOptions(end_silence_ms=600, pause_ms=600)
    with pytest.raises(ValueError, match="pause_ms"):
        EndpointOptions(pause_ms=100)  # shorter than the tail the turn keeps
    with pytest.raises(TypeError, match="int16"):
        Endpointer().push(np.zeros(10, np.float32))  # type: ignore[arg-type]
