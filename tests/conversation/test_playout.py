"""The audio timeline follows what the client says it played."""

from __future__ import annotations

import numpy as np

from visavis.conversation.local_output import Playout
from visavis.conversation.outbox import Outbox
from visavis.conversation.speech_output import ScheduledUtterance
from visavis.speech.voice import SpokenAudio
from visavis.timing import ConversationClock

RATE = 16_000


class ManualTime:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def at_ms(self, ms: int) -> None:
        self.seconds = ms / 1000


def _audio(text: str, ms: int) -> SpokenAudio:
    pcm = np.zeros(RATE * ms // 1000, dtype=np.int16)
    return SpokenAudio(text=text, pcm=pcm, sample_rate=RATE, cues=[], method="test", synthesis_s=0)


async def _play(playout: Playout, utterance_id: int, ms: int) -> ScheduledUtterance:
    audio = _audio(f"utterance {utterance_id}", ms)
    scheduled = playout.schedule(utterance_id=utterance_id, turn_id=1, audio=audio)
    await playout.send(scheduled, audio)
    return scheduled


def _playout(time: ManualTime) -> Playout:
    clock = ConversationClock(now=time)
    # A lead longer than any utterance here: every frame goes out at once, nothing sleeps.
    return Playout(Outbox(max_bytes=10_000_000), clock, sample_rate=RATE, lead_ms=60_000)


async def test_utterances_play_back_to_back_on_the_timeline() -> None:
    time = ManualTime()
    playout = _playout(time)
    first = await _play(playout, 1, 1000)
    second = await _play(playout, 2, 1000)
    assert (first.start_ms, second.start_ms) == (0, 1000)


async def test_an_early_end_pulls_what_follows_and_the_next_turn_in() -> None:
    time = ManualTime()
    playout = _playout(time)
    first = await _play(playout, 1, 1000)
    second = await _play(playout, 2, 1000)
    time.at_ms(200)  # the client skipped through the first utterance
    playout.report(utterance_id=1, position_ms=1000, ended=True)
    assert first.end_ms == 200
    assert second.start_ms == 200
    time.at_ms(300)
    playout.report(utterance_id=2, position_ms=1000, ended=True)
    assert second.end_ms == 300
    time.at_ms(400)
    third = await _play(playout, 3, 500)
    assert third.start_ms == 400  # not 2000, where the timeline assumed the audio would end


async def test_an_utterance_never_starts_before_its_first_frame_left() -> None:
    time = ManualTime()
    playout = _playout(time)
    await _play(playout, 1, 1000)
    time.at_ms(1500)  # a gap: the next sentence was ready late
    late = await _play(playout, 2, 1000)
    time.at_ms(1600)
    playout.report(utterance_id=1, position_ms=1000, ended=True)
    assert late.start_ms == 1500


async def test_an_utterance_the_client_reported_on_keeps_its_reported_start() -> None:
    time = ManualTime()
    playout = _playout(time)
    await _play(playout, 1, 1000)
    second = await _play(playout, 2, 1000)
    time.at_ms(1300)
    playout.report(utterance_id=2, position_ms=100, ended=False)
    assert second.start_ms == 1200
    time.at_ms(1400)
    playout.report(utterance_id=1, position_ms=1000, ended=True)
    assert second.start_ms == 1200


async def test_a_sentence_late_mid_reply_counts_an_underrun_a_new_reply_does_not() -> None:
    time = ManualTime()
    silences: list[int] = []
    playout = _playout(time)
    playout.on_underrun = silences.append
    await _play(playout, 1, 1000)
    time.at_ms(900)
    await _play(playout, 2, 1000)  # sent before the first ran out: heard back to back
    assert (playout.underruns, silences) == (0, [])
    time.at_ms(2500)  # the third sentence was ready 500 ms after the second stopped playing
    await _play(playout, 3, 1000)
    assert (playout.underruns, silences) == (1, [500])
    time.at_ms(6000)  # the next reply starts after the person's turn: silence is expected
    audio = _audio("a new reply", 1000)
    scheduled = playout.schedule(utterance_id=4, turn_id=2, audio=audio)
    await playout.send(scheduled, audio)
    assert playout.underruns == 1
