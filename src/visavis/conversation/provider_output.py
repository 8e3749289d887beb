"""A provider avatar as a speech output: each sentence relayed to the provider's face.

Sentences are chunked to the provider's message size and sent a moment before the avatar
finishes the one it is saying; each is placed on the conversation's timeline from the
provider's stated duration, or an estimate. Where the provider reports when it started and
stopped speaking (LiveAvatar FULL's ``avatar.speak_started/ended``, relayed by the page), those
moments replace the estimate; the estimate stays for a page that relays nothing. A provider
error hands the sentence being spoken, and everything after it, to whoever stands by (the
fallback's local voice).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from visavis.avatars.base import FaceEvent
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
#: Once the provider's speak events arrive, how long past its estimated end an utterance is
#: waited for before the estimate is taken after all (an event lost on the way).
EVENT_GRACE_MS = 2000


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
        #: Utterances the provider will report on, by its event id.
        self._by_event: dict[str, ScheduledUtterance] = {}
        self._ended: dict[int, asyncio.Event] = {}
        #: Set while the provider has reported every utterance given to it as ended.
        self._free = asyncio.Event()
        #: Whether the page relays the provider's speak events (then they time the speech).
        self.timed_by_events = False

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

    async def _wait_turn(self, scheduled: ScheduledUtterance) -> None:
        """Until a moment before the avatar finishes what it is saying: by the estimate, or as
        soon as the provider reports it has finished."""
        wait_ms = scheduled.scheduled_start_ms - SEND_AHEAD_MS - self.clock.ms()
        if wait_ms <= 0:
            return
        if not self._by_event:  # nothing the provider will report on: the estimate
            await asyncio.sleep(wait_ms / 1000)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_ms / 1000):
                await self._free.wait()
        if self._free.is_set():
            scheduled.scheduled_start_ms = min(scheduled.scheduled_start_ms, self.clock.ms())

    async def _send(self, piece: TextPiece, scheduled: ScheduledUtterance) -> None:
        await self._wait_turn(scheduled)
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
        if result.event_id is not None:
            self._by_event[result.event_id] = scheduled
            self._free.clear()

    def face_event(self, event: FaceEvent) -> None:
        """The provider's word on when one of our utterances started or ended speaking."""
        scheduled = self._by_event.get(event.utterance_id or "")
        if scheduled is None:
            return
        self.timed_by_events = True
        now = self.clock.ms()
        if event.kind == "speak_started":
            scheduled.timeline_start_ms = now
            return
        if event.kind != "speak_ended":
            return
        # The avatar speaks in order: an earlier utterance whose end was lost is over too.
        for event_id, earlier in list(self._by_event.items()):
            if earlier.utterance_id <= scheduled.utterance_id:
                del self._by_event[event_id]
        scheduled.duration_ms = max(0, now - scheduled.start_ms)
        scheduled.frames_sent = max(1, -(-scheduled.duration_ms // FRAME_MS))
        scheduled.ended_at_ms = now
        scheduled.ended = True
        if not self._by_event:  # nothing else is being said: the avatar is free now
            self._busy_until_ms = now
            self.link.speaking_until = asyncio.get_running_loop().time()
            self._free.set()
        waiter = self._ended.pop(scheduled.utterance_id, None)
        if waiter is not None:
            waiter.set()

    async def _wait_played(self, scheduled: ScheduledUtterance) -> None:
        if self.timed_by_events and not scheduled.ended:
            waiter = self._ended.setdefault(scheduled.utterance_id, asyncio.Event())
            grace_ms = max(0, scheduled.end_ms - self.clock.ms()) + EVENT_GRACE_MS
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace_ms / 1000):
                    await waiter.wait()
            self._ended.pop(scheduled.utterance_id, None)
            if scheduled.ended:
                return
        remaining = scheduled.end_ms - self.clock.ms()
        while remaining > 0:
            await asyncio.sleep(min(remaining, 200) / 1000)
            remaining = scheduled.end_ms - self.clock.ms()

    def _silence(self) -> None:
        self._by_event.clear()
        self._free.set()
        self._busy_until_ms = min(self._busy_until_ms, self.clock.ms())
        self._interrupts.spawn(self.link.interrupt())

    async def aclose(self) -> None:
        await super().aclose()
        await self._interrupts.aclose(timeout_s=5)
