"""Speech through a provider avatar, with the local voice standing by.

``ProviderSpeechOutput`` sends each sentence (chunked to the provider's message size) to the
avatar and places it on the conversation's timeline from the provider's stated duration, or an
estimate. ``FallbackSpeechOutput`` switches to the local voice the moment the provider fails —
the sentence that failed is spoken locally, so no utterance is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from visavis.avatars.errors import ProviderError
from visavis.conversation.avatar_link import AvatarLink, failure_reason
from visavis.conversation.clock import ConversationClock
from visavis.conversation.outbox import Outbox
from visavis.conversation.output import LocalSpeechOutput, Piece
from visavis.conversation.playout import ScheduledUtterance
from visavis.conversation.segmenter import chunk_utf8
from visavis.conversation.voice import SpokenAudio

logger = logging.getLogger(__name__)

#: How far ahead of the avatar finishing its current sentence the next one is sent.
SEND_AHEAD_MS = 300


@dataclass(frozen=True, slots=True)
class TextPiece:
    """A sentence (or part of one) for the provider to speak."""

    text: str
    synthesis_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PendingPiece:
    """A sentence spoken before the avatar is known to be up: the local voice is ready too."""

    text: str
    audio: asyncio.Task[SpokenAudio]
    synthesis_s: float = 0.0


class ProviderSpeechOutput:
    """Speaks through ``link``; keeps the timeline from what the provider says."""

    name = "provider"

    def __init__(self, link: AvatarLink, outbox: Outbox, clock: ConversationClock) -> None:
        self.link = link
        self.outbox = outbox
        self.clock = clock
        self._busy_until_ms = 0
        self._interrupts: set[asyncio.Task[None]] = set()

    async def prepare(self, sentence: str) -> AsyncIterator[TextPiece]:
        limit = self.link.provider.limits.message_bytes
        for part in chunk_utf8(sentence, limit) if limit else [sentence]:
            yield TextPiece(part)

    def schedule(self, piece: Piece, *, utterance_id: int, turn_id: int) -> ScheduledUtterance:
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
        self.outbox.send_json(
            {
                "type": "sentence",
                "turn_id": turn_id,
                "utterance_id": utterance_id,
                "text": piece.text,
            }
        )
        return scheduled

    async def send(self, piece: Piece, scheduled: ScheduledUtterance) -> None:
        wait_ms = scheduled.scheduled_start_ms - SEND_AHEAD_MS - self.clock.ms()
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)
        if await self.link.ensure_time_for(scheduled.duration_ms):
            # The old session finishes its sentence before the new one starts speaking.
            await asyncio.sleep(max(0, scheduled.scheduled_start_ms - self.clock.ms()) / 1000)
        result = await self.link.speak(piece.text)
        now = self.clock.ms()
        start = max(now, scheduled.scheduled_start_ms)
        if result.duration_ms is not None:
            scheduled.duration_ms = round(result.duration_ms)
        scheduled.timeline_start_ms = start
        scheduled.frames_sent = max(1, scheduled.duration_ms // 100)
        scheduled.sent_all = True
        self._busy_until_ms = max(self._busy_until_ms, start + scheduled.duration_ms)
        self.link.speaking_until = (
            asyncio.get_running_loop().time() + (self._busy_until_ms - now) / 1000
        )

    async def wait_played(self, scheduled: ScheduledUtterance) -> None:
        remaining = scheduled.end_ms - self.clock.ms()
        while remaining > 0:
            await asyncio.sleep(min(remaining, 200) / 1000)
            remaining = scheduled.end_ms - self.clock.ms()

    def stop(self) -> None:
        self._busy_until_ms = min(self._busy_until_ms, self.clock.ms())
        task = asyncio.ensure_future(self.link.interrupt())
        self._interrupts.add(task)
        task.add_done_callback(self._interrupts.discard)


class FallbackSpeechOutput:
    """The provider while it works; the local voice from the moment it fails."""

    name = "fallback"

    def __init__(
        self,
        provider: ProviderSpeechOutput,
        local: LocalSpeechOutput,
        *,
        on_failure: Callable[[str, str], Awaitable[None]],
    ) -> None:
        self.provider = provider
        self.local = local
        self.on_failure = on_failure
        self.degraded = False
        # Until the avatar's start is decided, sentences are ready both ways.
        self._decided: asyncio.Future[bool] | None = None

    def pending(self) -> None:
        """The avatar is still starting: prepare the local voice too, decide at delivery."""
        self._decided = asyncio.get_running_loop().create_future()

    def use_local(self) -> None:
        """From now on, speak with the local voice (fallback, or the avatar switched off)."""
        self.degraded = True
        self._decide(False)

    def use_provider(self) -> None:
        self.degraded = False
        self._decide(True)

    def _decide(self, provider: bool) -> None:
        decided, self._decided = self._decided, None
        if decided is not None and not decided.done():
            decided.set_result(provider)

    async def prepare(self, sentence: str) -> AsyncIterator[Piece]:
        if self._decided is not None:
            audio = asyncio.ensure_future(self.local.voice.speak_whole(sentence))
            yield PendingPiece(sentence, audio)
        elif self.degraded:
            async for piece in self.local.prepare(sentence):
                yield piece
        else:
            async for text in self.provider.prepare(sentence):
                yield text

    def schedule(self, piece: Piece, *, utterance_id: int, turn_id: int) -> ScheduledUtterance:
        if isinstance(piece, SpokenAudio):
            return self.local.schedule(piece, utterance_id=utterance_id, turn_id=turn_id)
        return self.provider.schedule(piece, utterance_id=utterance_id, turn_id=turn_id)

    async def send(self, piece: Piece, scheduled: ScheduledUtterance) -> None:
        if isinstance(piece, SpokenAudio):
            await self.local.send(piece, scheduled)
            return
        if isinstance(piece, PendingPiece):
            decided = self._decided
            use_provider = await decided if decided is not None else not self.degraded
            if not use_provider:
                audio = await piece.audio
                self.local.playout.reschedule(scheduled, audio)
                await self.local.send(audio, scheduled)
                return
            piece.audio.cancel()
            piece = TextPiece(piece.text)
        if not self.degraded:
            try:
                await self.provider.send(piece, scheduled)
                return
            except ProviderError as error:
                if not self.degraded:  # not already switched off or failed elsewhere
                    reason, detail = failure_reason(error)
                    self.use_local()
                    await self.on_failure(reason, detail)
        # The provider could not say it: the local voice does, on the same utterance.
        audio = await self.local.voice.speak_whole(piece.text)
        self.local.playout.reschedule(scheduled, audio)
        await self.local.send(audio, scheduled)

    async def wait_played(self, scheduled: ScheduledUtterance) -> None:
        if self.local.playout.utterance(scheduled.utterance_id) is scheduled:
            await self.local.wait_played(scheduled)
        else:
            await self.provider.wait_played(scheduled)

    def stop(self) -> None:
        self.local.stop()
        if not self.degraded:
            self.provider.stop()
