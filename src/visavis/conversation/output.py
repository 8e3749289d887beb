"""Where a turn's sentences are spoken: the interface, and the local voice behind it.

A turn prepares each sentence (synthesis, for the local voice) one sentence ahead of the one
being delivered, so sentence n+1 is synthesized while n plays. Avatar providers that speak
with their own voice implement the same small interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

from visavis.conversation.playout import Playout, ScheduledUtterance
from visavis.conversation.voice import LocalVoice, SpokenAudio


class Piece(Protocol):
    """Something ready to deliver: at least its text, and how long synthesis took."""

    @property
    def text(self) -> str: ...

    @property
    def synthesis_s(self) -> float: ...


class SpeechOutput(Protocol):
    """Speaks sentences somewhere and keeps them on the conversation's audio timeline."""

    name: str

    def prepare(self, sentence: str) -> AsyncIterator[Piece]:
        """Turn a sentence into deliverable pieces (may synthesize; may run ahead)."""
        ...

    def schedule(self, piece: Piece, *, utterance_id: int, turn_id: int) -> ScheduledUtterance:
        """Place a piece on the timeline and announce it to the listener."""
        ...

    async def send(self, piece: Piece, scheduled: ScheduledUtterance) -> None:
        """Send a scheduled piece; return once all of it is on its way."""
        ...

    async def wait_played(self, scheduled: ScheduledUtterance) -> None:
        """Until the listener has heard ``scheduled``."""
        ...

    def stop(self) -> None:
        """Interrupted: drop what is scheduled beyond now."""
        ...


class LocalSpeechOutput:
    """The local voice (and the local avatar's mouth cues), streamed to the browser."""

    name = "local"

    def __init__(self, voice: LocalVoice, playout: Playout) -> None:
        self.voice = voice
        self.playout = playout

    def prepare(self, sentence: str) -> AsyncIterator[SpokenAudio]:
        # Needed when what is already queued for the listener runs out.
        ahead_ms = max(0, self.playout.busy_until_ms - self.playout.clock.ms())
        deadline = asyncio.get_running_loop().time() + ahead_ms / 1000
        return self.voice.speak(sentence, deadline=deadline)

    def schedule(self, piece: Piece, *, utterance_id: int, turn_id: int) -> ScheduledUtterance:
        return self.playout.schedule(
            utterance_id=utterance_id, turn_id=turn_id, audio=_spoken(piece)
        )

    async def send(self, piece: Piece, scheduled: ScheduledUtterance) -> None:
        await self.playout.send(scheduled, _spoken(piece))

    async def wait_played(self, scheduled: ScheduledUtterance) -> None:
        await self.playout.wait_played(scheduled)

    def stop(self) -> None:
        self.playout.stop()


def _spoken(piece: Piece) -> SpokenAudio:
    if not isinstance(piece, SpokenAudio):
        raise TypeError("the local output speaks SpokenAudio pieces")
    return piece
