"""The local voice as a speech output: our TTS, lip-sync cues and paced frames to the client.

Frames are sent at most ``lead_ms`` ahead of when they will play, so an interruption leaves
little in the client's buffer and a client that stops reading is noticed. Each utterance's
start on the conversation clock comes from the audio itself: it follows the previous
utterance sample for sample, or starts when its first frame goes out after a gap; the client's
``playback`` reports then pin it to when the client really played it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from visavis.conversation import protocol
from visavis.conversation.outbox import Outbox
from visavis.conversation.protocol import FRAME_MS, split_frames
from visavis.conversation.speech_output import (
    PipelinedOutput,
    ReplyFigures,
    ScheduledUtterance,
    UtteranceIds,
)
from visavis.speech.voice import LocalVoice, SpokenAudio
from visavis.timing import ConversationClock

_MIN_SHIFT_MS = 20
_MAX_SHIFT_MS = 10_000
#: A sentence whose first frame leaves this long after the one before it stopped playing, in
#: the same reply, left the listener in silence: an underrun. (Two frames: reports come
#: every ~250 ms, so the timeline's end is known to a frame or so.)
UNDERRUN_GAP_MS = 2 * FRAME_MS

UnderrunHandler = Callable[[int], None]


class Playout:
    """The audio timeline of one live connection: utterances scheduled, paced, reported."""

    def __init__(
        self,
        outbox: Outbox,
        clock: ConversationClock,
        *,
        sample_rate: int,
        lead_ms: int = 1500,
        on_underrun: UnderrunHandler | None = None,
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.sample_rate = sample_rate
        self.lead_ms = lead_ms
        #: Told the silence (ms) each time the listener ran out of audio mid-reply.
        self.on_underrun = on_underrun
        #: Times the listener ran out of audio mid-reply on this timeline.
        self.underruns = 0
        self._busy_until_ms = 0
        # Where the recorded audio timeline ends: speech is heard one utterance after another.
        self._timeline_end_ms = 0
        self._timeline_turn: int | None = None  # the turn whose audio ends the timeline
        self._utterances: dict[int, ScheduledUtterance] = {}

    @property
    def busy_until_ms(self) -> int:
        """Where the scheduled audio ends on the conversation clock."""
        return self._busy_until_ms

    def utterance(self, utterance_id: int) -> ScheduledUtterance | None:
        return self._utterances.get(utterance_id)

    def schedule(
        self, *, utterance_id: int, turn_id: int, audio: SpokenAudio, announce: bool = True
    ) -> ScheduledUtterance:
        """Place the utterance on the timeline and announce it (its text and mouth cues)."""
        start = max(self.clock.ms(), self._busy_until_ms)
        scheduled = ScheduledUtterance(
            utterance_id=utterance_id,
            turn_id=turn_id,
            text=audio.text,
            duration_ms=audio.duration_ms,
            scheduled_start_ms=start,
        )
        self._utterances[utterance_id] = scheduled
        self._busy_until_ms = start + audio.duration_ms
        if announce:
            self.outbox.send_json(
                protocol.sentence(turn_id=turn_id, utterance_id=utterance_id, text=audio.text)
            )
        self.outbox.send_json(
            protocol.visemes(
                utterance_id=utterance_id,
                duration_ms=audio.duration_ms,
                method=audio.method,
                cues=audio.cues,
            )
        )
        return scheduled

    async def send(self, scheduled: ScheduledUtterance, audio: SpokenAudio) -> None:
        """Send the frames, each no earlier than ``lead_ms`` before it plays."""
        for frame in split_frames(scheduled.utterance_id, audio.pcm, self.sample_rate):
            due = scheduled.scheduled_start_ms + frame.seq * FRAME_MS - self.lead_ms
            wait_ms = due - self.clock.ms()
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000)
            self.outbox.put(frame.encode())
            if scheduled.timeline_start_ms is None:
                # Nothing is heard before its first frame leaves, nor before the previous ends.
                scheduled.first_sent_ms = self.clock.ms()
                self._count_underrun(scheduled)
                scheduled.timeline_start_ms = max(scheduled.first_sent_ms, self._timeline_end_ms)
                self._timeline_end_ms = scheduled.timeline_start_ms + scheduled.duration_ms
                self._timeline_turn = scheduled.turn_id
            scheduled.frames_sent = frame.seq + 1
        scheduled.sent_all = True
        self.outbox.send_json(
            protocol.utterance_end(
                utterance_id=scheduled.utterance_id,
                duration_ms=scheduled.duration_ms,
                frames=scheduled.frames_sent,
            )
        )

    def _count_underrun(self, scheduled: ScheduledUtterance) -> None:
        first_sent = scheduled.first_sent_ms or 0
        gap = first_sent - self._timeline_end_ms
        if self._timeline_turn == scheduled.turn_id and gap > UNDERRUN_GAP_MS:
            self.underruns += 1
            if self.on_underrun is not None:
                self.on_underrun(gap)

    def report(self, *, utterance_id: int, position_ms: int, ended: bool) -> None:
        """The client says how far it has played an utterance.

        Its clock is the truth: the utterance and every one scheduled after it move by how far
        the client is ahead of (or behind) the schedule, so pacing follows real playback.
        """
        scheduled = self._utterances.get(utterance_id)
        if scheduled is None:
            return
        now = self.clock.ms()
        position = max(0, min(position_ms, scheduled.duration_ms))
        scheduled.reported_position_ms = max(scheduled.reported_position_ms or 0, position)
        if ended:
            if not scheduled.ended and scheduled.timeline_start_ms is not None:
                start = scheduled.timeline_start_ms
                scheduled.ended_at_ms = max(start, min(now, start + scheduled.duration_ms))
                self._pull_in_after(scheduled)
            scheduled.ended = True
            scheduled.reported_position_ms = scheduled.duration_ms
            expected_end = now
        else:
            expected_end = now + scheduled.duration_ms - position
        if not ended and position > 0 and scheduled.timeline_start_ms is not None:
            # A client that started later than the timeline says (buffering) moves it later.
            started = now - position
            if started > scheduled.timeline_start_ms:
                scheduled.timeline_start_ms = started
                self._timeline_end_ms = max(self._timeline_end_ms, started + scheduled.duration_ms)
        shift = expected_end - (scheduled.scheduled_start_ms + scheduled.duration_ms)
        shift = max(-_MAX_SHIFT_MS, min(_MAX_SHIFT_MS, shift))
        if abs(shift) < _MIN_SHIFT_MS:
            return
        for other in self._utterances.values():
            if other.utterance_id >= utterance_id:
                other.scheduled_start_ms += shift
        self._busy_until_ms = max(now, self._busy_until_ms + shift)

    def _pull_in_after(self, ended: ScheduledUtterance) -> None:
        """``ended`` finished before the timeline said: what followed it started sooner.

        The client plays utterances back to back, so each later one that the client has not
        reported on yet starts when the one before it ended (never later than assumed).
        """
        timed = sorted(
            (u for u in self._utterances.values() if u.timeline_start_ms is not None),
            key=lambda u: u.utterance_id,
        )
        previous_end = ended.end_ms
        for other in timed:
            if other.utterance_id <= ended.utterance_id:
                continue
            # Nothing plays before its first frame has left.
            earliest = max(previous_end, other.first_sent_ms or 0)
            start = other.timeline_start_ms
            if other.reported_position_ms is not None or start is None or start <= earliest:
                return  # from here on the timeline stands as it was
            other.timeline_start_ms = earliest
            previous_end = other.end_ms
        # The whole tail moved: the next utterance follows the new end.
        self._timeline_end_ms = min(self._timeline_end_ms, previous_end)

    def stop(self) -> None:
        """The client stops its audio now: nothing is scheduled beyond this moment."""
        now = self.clock.ms()
        self._busy_until_ms = min(self._busy_until_ms, now)
        self._timeline_end_ms = min(self._timeline_end_ms, now)

    def forget_before(self, turn_id: int) -> None:
        """Drop the bookkeeping of older turns (keeps memory bounded in long conversations)."""
        for utterance_id in [u for u, s in self._utterances.items() if s.turn_id < turn_id]:
            del self._utterances[utterance_id]

    async def wait_played(self, scheduled: ScheduledUtterance, *, slack_ms: int = 250) -> None:
        """Until the client has played ``scheduled`` (its report, or the schedule + slack)."""
        while not scheduled.ended:
            remaining = scheduled.start_ms + scheduled.duration_ms + slack_ms - self.clock.ms()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 100) / 1000)


class LocalVoiceOutput(PipelinedOutput[SpokenAudio]):
    """The local voice (and the local avatar's mouth cues), streamed to the client."""

    name = "local"

    def __init__(
        self,
        voice: LocalVoice,
        playout: Playout,
        *,
        ids: UtteranceIds,
    ) -> None:
        super().__init__(clock=playout.clock, ids=ids)
        self.voice = voice
        self.playout = playout

    @classmethod
    def build(
        cls,
        voice: LocalVoice,
        outbox: Outbox,
        *,
        clock: ConversationClock,
        lead_ms: int,
        ids: UtteranceIds,
        on_underrun: UnderrunHandler | None = None,
    ) -> LocalVoiceOutput:
        """The local voice of one connection, on its own audio timeline (``on_underrun``: told
        each time the listener runs out of audio mid-reply)."""
        playout = Playout(
            outbox, clock, sample_rate=voice.sample_rate, lead_ms=lead_ms, on_underrun=on_underrun
        )
        return cls(voice, playout, ids=ids)

    def start(self, turn_id: int, figures: ReplyFigures | None = None) -> ReplyFigures:
        # Long conversations keep the bookkeeping of the last two turns only.
        self.playout.forget_before(turn_id - 1)
        return super().start(turn_id, figures)

    def playback(self, utterance_id: int, position_ms: int, *, ended: bool) -> None:
        self.playout.report(utterance_id=utterance_id, position_ms=position_ms, ended=ended)

    async def _prepare(self, sentence: str, *, whole: bool) -> AsyncIterator[SpokenAudio]:
        if whole:
            yield await self.voice.speak_whole(sentence)
            return
        # Needed when what is already queued for the listener runs out.
        ahead_ms = max(0, self.playout.busy_until_ms - self.clock.ms())
        deadline = asyncio.get_running_loop().time() + ahead_ms / 1000
        async for piece in self.voice.speak(sentence, deadline=deadline):
            yield piece

    def _schedule(
        self, piece: SpokenAudio, *, utterance_id: int, turn_id: int, announce: bool
    ) -> ScheduledUtterance:
        return self.playout.schedule(
            utterance_id=utterance_id, turn_id=turn_id, audio=piece, announce=announce
        )

    async def _send(self, piece: SpokenAudio, scheduled: ScheduledUtterance) -> None:
        await self.playout.send(scheduled, piece)

    async def _wait_played(self, scheduled: ScheduledUtterance) -> None:
        await self.playout.wait_played(scheduled)

    def _silence(self) -> None:
        self.playout.outbox.drop_audio()
        self.playout.stop()
