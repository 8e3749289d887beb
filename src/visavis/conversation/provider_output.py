"""A provider avatar as a speech output: each sentence relayed to the provider's face.

Sentences are chunked to the provider's message size and sent a moment before the avatar
finishes the one it is saying; each is placed on the conversation's timeline from the
provider's stated duration, or an estimate. A provider error hands the sentence being spoken,
and everything after it, to whoever stands by (the fallback's local voice).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from visavis.avatars.errors import ProviderError
from visavis.avatars.launcher import failure_reason
from visavis.avatars.link import AvatarLink
from visavis.conversation import protocol
from visavis.conversation.outbox import Outbox
from visavis.conversation.protocol import FRAME_MS
from visavis.conversation.segmenter import chunk_utf8
from visavis.conversation.speech_output import (
    PipelinedOutput,
    ScheduledUtterance,
    UtteranceIds,
    _HandedOver,
)
from visavis.tasks import TaskSet
from visavis.timing import ConversationClock

#: How far ahead of the avatar finishing its current sentence the next one is sent.
SEND_AHEAD_MS = 300


@dataclass(frozen=True, slots=True)
class TextPiece:
    """A sentence (or part of one) for the provider to speak."""

    text: str
    synthesis_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Handover:
    """The provider failed: the text it did not say, and why."""

    texts: list[str]
    #: The utterance the client was told about but did not hear: the first text reuses it.
    utterance_id: int | None
    reason: str
    detail: str


HandoverSink = Callable[[Handover], Awaitable[None]]


class ProviderOutput(PipelinedOutput[TextPiece]):
    """Speaks through ``link``; keeps the timeline from what the provider says."""

    name = "provider"

    def __init__(
        self,
        link: AvatarLink,
        outbox: Outbox,
        *,
        clock: ConversationClock,
        ids: UtteranceIds,
        on_failed: HandoverSink,
    ) -> None:
        super().__init__(clock=clock, ids=ids)
        self.link = link
        self.outbox = outbox
        self.on_failed = on_failed
        self._busy_until_ms = 0
        self._interrupts = TaskSet("provider output")

    async def _prepare(self, sentence: str, *, whole: bool) -> AsyncIterator[TextPiece]:
        limit = self.link.provider.limits.message_bytes
        for part in chunk_utf8(sentence, limit) if limit else [sentence]:
            yield TextPiece(part)

    def _schedule(
        self, piece: TextPiece, *, utterance_id: int, turn_id: int, announce: bool
    ) -> ScheduledUtterance:
        start = max(self.clock.ms(), self._busy_until_ms)
        estimate = round(len(piece.text) * self.link.provider.limits.ms_per_char)
        scheduled = ScheduledUtterance(
            utterance_id=utterance_id,
            turn_id=turn_id,
            text=piece.text,
            duration_ms=estimate,
            scheduled_start_ms=start,
        )
        self._busy_until_ms = start + estimate
        if announce:
            self.outbox.send_json(
                protocol.sentence(turn_id=turn_id, utterance_id=utterance_id, text=piece.text)
            )
        return scheduled

    async def _send(self, piece: TextPiece, scheduled: ScheduledUtterance) -> None:
        wait_ms = scheduled.scheduled_start_ms - SEND_AHEAD_MS - self.clock.ms()
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)
        try:
            if await self.link.ensure_time_for(scheduled.duration_ms):
                # The old session finishes its sentence before the new one starts speaking.
                await asyncio.sleep(max(0, scheduled.scheduled_start_ms - self.clock.ms()) / 1000)
            result = await self.link.speak(piece.text)
        except ProviderError as error:
            reason, detail = failure_reason(error)
            texts = await self._hand_over(scheduled)
            await self.on_failed(Handover(texts, scheduled.utterance_id, reason, detail))
            raise _HandedOver from error
        now = self.clock.ms()
        start = max(now, scheduled.scheduled_start_ms)
        if result.duration_ms is not None:
            scheduled.duration_ms = round(result.duration_ms)
        scheduled.timeline_start_ms = start
        scheduled.frames_sent = max(1, -(-scheduled.duration_ms // FRAME_MS))
        scheduled.sent_all = True
        self._busy_until_ms = max(self._busy_until_ms, start + scheduled.duration_ms)
        self.link.speaking_until = (
            asyncio.get_running_loop().time() + (self._busy_until_ms - now) / 1000
        )

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
