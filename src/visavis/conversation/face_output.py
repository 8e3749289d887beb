"""An audio-driven provider face as a speech output: our voice, their lips.

Each sentence is synthesized once by our own voice at the face's sample rate; its PCM goes to
the provider as one utterance (``begin_utterance`` / ``push_audio`` / ``end_utterance``),
paced a little ahead of when it plays, so an interruption leaves little in the face's buffer.
The utterance is placed on the conversation's timeline from our audio's own duration: the
transcript's timing is ours, not the provider's. A provider error hands the sentence being
spoken, and everything after it, to whoever stands by (the fallback's local voice), exactly
like the text-driven :class:`~visavis.conversation.provider_output.ProviderOutput`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from visavis.avatars.errors import ProviderError
from visavis.avatars.launcher import failure_reason
from visavis.avatars.link import AvatarLink
from visavis.conversation import protocol
from visavis.conversation.outbox import Outbox
from visavis.conversation.protocol import FRAME_MS
from visavis.conversation.provider_output import Handover, HandoverSink
from visavis.conversation.speech_output import (
    PipelinedOutput,
    ScheduledUtterance,
    UtteranceIds,
    _HandedOver,
)
from visavis.speech.voice import LocalVoice, SpokenAudio
from visavis.tasks import TaskSet
from visavis.timing import ConversationClock

#: The face gets each piece of audio at most this long before it plays (its buffer).
LEAD_MS = 1000
#: Audio goes to the provider in slices this long (it re-cuts them to its own chunk sizes).
SLICE_MS = 500


class FaceOutput(PipelinedOutput[SpokenAudio]):
    """Speaks through an audio-driven face behind ``link``, with ``voice`` (our TTS)."""

    name = "face"

    def __init__(
        self,
        link: AvatarLink,
        voice: LocalVoice,
        outbox: Outbox,
        *,
        clock: ConversationClock,
        ids: UtteranceIds,
        on_failed: HandoverSink,
    ) -> None:
        super().__init__(clock=clock, ids=ids)
        self.link = link
        self.voice = voice
        self.outbox = outbox
        self.on_failed = on_failed
        self._busy_until_ms = 0
        self._interrupts = TaskSet("face output")

    def follow(self, busy_until_ms: int) -> None:
        """Speak nothing before ``busy_until_ms`` (another output's audio ends there)."""
        self._busy_until_ms = max(self._busy_until_ms, busy_until_ms)

    async def _prepare(self, sentence: str, *, whole: bool) -> AsyncIterator[SpokenAudio]:
        # One utterance per sentence: a face that fails hands over whole sentences, so what
        # the client was told of an utterance is exactly what the local voice then says.
        yield await self.voice.speak_whole(sentence)

    def _schedule(
        self, piece: SpokenAudio, *, utterance_id: int, turn_id: int, announce: bool
    ) -> ScheduledUtterance:
        start = max(self.clock.ms(), self._busy_until_ms)
        scheduled = ScheduledUtterance(
            utterance_id=utterance_id,
            turn_id=turn_id,
            text=piece.text,
            duration_ms=piece.duration_ms,
            scheduled_start_ms=start,
        )
        self._busy_until_ms = start + piece.duration_ms
        if announce:
            self.outbox.send_json(
                protocol.sentence(turn_id=turn_id, utterance_id=utterance_id, text=piece.text)
            )
        return scheduled

    async def _send(self, piece: SpokenAudio, scheduled: ScheduledUtterance) -> None:
        try:
            await self._wait_until(scheduled.scheduled_start_ms - LEAD_MS)
            if await self.link.ensure_time_for(scheduled.duration_ms):
                # The old session finishes its utterance before the new one starts speaking.
                await self._wait_until(scheduled.scheduled_start_ms)
            await self._stream(piece, scheduled)
        except ProviderError as error:
            reason, detail = failure_reason(error)
            texts = await self._hand_over(scheduled)
            await self.on_failed(Handover(texts, scheduled.utterance_id, reason, detail))
            raise _HandedOver from error

    async def _stream(self, piece: SpokenAudio, scheduled: ScheduledUtterance) -> None:
        pcm = piece.pcm.astype("<i2").tobytes()
        # The face is busy until this utterance has played (renewals and failures wait for it).
        self.link.speaking_until = max(
            self.link.speaking_until,
            asyncio.get_running_loop().time() + max(0, scheduled.end_ms - self.clock.ms()) / 1000,
        )
        slice_bytes = max(2, piece.sample_rate * SLICE_MS // 1000 * 2)
        await self.link.begin_utterance()
        for offset in range(0, len(pcm), slice_bytes):
            played_at = scheduled.scheduled_start_ms + offset * 1000 // (2 * piece.sample_rate)
            await self._wait_until(played_at - LEAD_MS)
            await self.link.push_audio(pcm[offset : offset + slice_bytes], piece.sample_rate)
            if scheduled.timeline_start_ms is None:
                # Nothing is heard before the face has its first audio, nor before its turn.
                scheduled.first_sent_ms = self.clock.ms()
                scheduled.timeline_start_ms = max(
                    scheduled.first_sent_ms, scheduled.scheduled_start_ms
                )
            sent_ms = (offset + slice_bytes) * 1000 // (2 * piece.sample_rate)
            scheduled.frames_sent = -(-min(sent_ms, scheduled.duration_ms) // FRAME_MS)
        await self.link.end_utterance()
        if scheduled.timeline_start_ms is None:
            scheduled.timeline_start_ms = max(self.clock.ms(), scheduled.scheduled_start_ms)
        scheduled.frames_sent = max(1, -(-scheduled.duration_ms // FRAME_MS))
        scheduled.sent_all = True
        end_ms = scheduled.timeline_start_ms + scheduled.duration_ms
        self._busy_until_ms = max(self._busy_until_ms, end_ms)
        self.link.speaking_until = (
            asyncio.get_running_loop().time() + max(0, end_ms - self.clock.ms()) / 1000
        )

    async def _wait_until(self, at_ms: int) -> None:
        wait_ms = at_ms - self.clock.ms()
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)

    async def _wait_played(self, scheduled: ScheduledUtterance) -> None:
        remaining = scheduled.end_ms - self.clock.ms()
        while remaining > 0:
            await asyncio.sleep(min(remaining, 200) / 1000)
            remaining = scheduled.end_ms - self.clock.ms()

    def _silence(self) -> None:
        self._busy_until_ms = min(self._busy_until_ms, self.clock.ms())
        self._interrupts.spawn(self.link.interrupt())

    async def aclose(self) -> None:
        await super().aclose()
        await self._interrupts.aclose(timeout_s=5)
