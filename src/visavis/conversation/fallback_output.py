"""The provider avatar while it works, the local voice from the moment it does not.

The switch happens between two pieces of speech and loses nothing: what the provider did not
say (the sentence it failed on, and everything queued after it) is spoken by the local voice,
the failed sentence under the utterance id the client already knows. While the provider is
still starting, sentences are prepared by the local voice and held until it is decided who
speaks them. A provider that comes up after the local voice began (a face joining late) takes
over between two sentences: the local voice says what it was given, the face the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum

from visavis.conversation.face_output import FaceOutput
from visavis.conversation.local_output import LocalVoiceOutput
from visavis.conversation.provider_output import Handover, ProviderOutput
from visavis.conversation.speech_output import (
    Heard,
    ReplyFigures,
    ScheduledUtterance,
    SpeechOutput,
    heard_of,
)

#: Told why the provider failed (a reason code and a sentence for the person).
FailureHandler = Callable[[str, str], Awaitable[None]]
#: A provider's face: relayed text, or our audio.
FaceSpeech = ProviderOutput | FaceOutput


class Speaker(Enum):
    PROVIDER = "provider"
    LOCAL = "local"
    UNDECIDED = "undecided"


class FallbackOutput(SpeechOutput):
    """Speaks through ``provider`` until it fails or is switched off, then through ``local``."""

    name = "fallback"

    def __init__(self, provider: FaceSpeech, local: LocalVoiceOutput) -> None:
        self.provider = provider
        self.local = local
        self.provider.on_failed = self._provider_failed
        self.on_failure: FailureHandler | None = None
        self.speaker = Speaker.PROVIDER
        self._turn_id: int | None = None
        self._figures: ReplyFigures | None = None
        # Switching speakers and pushing sentences take turns, so the order of speech holds.
        self._order = asyncio.Lock()
        # A late face waits for the local voice to finish what it was given.
        self._handoff: asyncio.Task[None] | None = None
        self._local_error: BaseException | None = None

    @property
    def degraded(self) -> bool:
        return self.speaker is Speaker.LOCAL

    @property
    def delivered(self) -> Sequence[ScheduledUtterance]:
        return [
            u
            for u in (*self.provider.delivered, *self.local.delivered)
            if u.turn_id == self._turn_id
        ]

    # --- who speaks ------------------------------------------------------------------------

    def pending(self) -> None:
        """The provider is still starting: the local voice prepares, nobody delivers yet."""
        self.speaker = Speaker.UNDECIDED
        self.local.hold()

    async def use_local(self) -> None:
        """From now on the local voice speaks (fallback, or the avatar switched off)."""
        async with self._order:
            previous, self.speaker = self.speaker, Speaker.LOCAL
            self.local.release()
            if previous is Speaker.PROVIDER:
                await self._continue_locally(await self.provider.take_back(), utterance_id=None)

    async def use_provider(self) -> None:
        """The provider is up: it speaks what the local voice was holding."""
        async with self._order:
            await self._take_held()

    async def _take_held(self) -> None:
        if self.speaker is not Speaker.UNDECIDED:
            return
        self.speaker = Speaker.PROVIDER
        held = await self.local.take_back()
        self.local.release()
        if self._turn_id is not None and held:
            self._ensure_started(self.provider)
            for text in held:
                await self.provider.push_text(text)

    async def join(self) -> None:
        """The provider came up late, while the local voice speaks: the face takes the next
        sentence; what the local voice was already given it says to the end first."""
        async with self._order:
            if self.speaker is Speaker.PROVIDER:
                return
            if self.speaker is Speaker.UNDECIDED:
                await self._take_held()
                return
            self.speaker = Speaker.PROVIDER
            if self.local.active:
                self.provider.hold()
                self._handoff = asyncio.create_task(self._after_local(), name="face-handoff")

    async def _after_local(self) -> None:
        try:
            await self.local.flush()
        except Exception as error:  # the turn's, raised by ``flush``
            self._local_error = error
        finally:
            if isinstance(self.provider, FaceOutput):
                self.provider.follow(self.local.playout.busy_until_ms)
            self.provider.release()

    async def _provider_failed(self, handover: Handover) -> None:
        # Runs inside the provider's delivery, which a concurrent switch may cancel: the text
        # handed over must reach the local voice all the same.
        await asyncio.shield(self._take_over(handover))

    async def _take_over(self, handover: Handover) -> None:
        async with self._order:
            self.speaker = Speaker.LOCAL
            self.local.release()
            await self._continue_locally(handover.texts, utterance_id=handover.utterance_id)
        if self.on_failure is not None:
            await self.on_failure(handover.reason, handover.detail)

    async def _continue_locally(self, texts: list[str], *, utterance_id: int | None) -> None:
        if self._turn_id is None or not texts:
            return
        # The local voice first ends what it said before a late face joined.
        await self._handed_off(keep_error=True)
        self._ensure_started(self.local)
        for index, text in enumerate(texts):
            await self.local.push_text(text, utterance_id=utterance_id if index == 0 else None)

    def _ensure_started(self, output: LocalVoiceOutput | FaceSpeech) -> None:
        if not output.active and self._turn_id is not None:
            output.start(self._turn_id, self._figures)

    # --- the interface ---------------------------------------------------------------------

    def start(self, turn_id: int, figures: ReplyFigures | None = None) -> ReplyFigures:
        self._turn_id = turn_id
        self._figures = figures or ReplyFigures(turn_id)
        self._ensure_started(self.provider if self.speaker is Speaker.PROVIDER else self.local)
        return self._figures

    async def push_text(self, sentence: str, *, utterance_id: int | None = None) -> None:
        async with self._order:
            output = self.provider if self.speaker is Speaker.PROVIDER else self.local
            self._ensure_started(output)
            await output.push_text(sentence, utterance_id=utterance_id)

    async def flush(self) -> Heard:
        await self._handed_off()
        # A switch while flushing hands the rest to the other output: flush until both are done.
        while busy := [output for output in (self.provider, self.local) if output.active]:
            for output in busy:
                await output.flush()
        return heard_of(self.delivered, self.local.clock.ms(), complete=True)

    async def interrupt(self) -> Heard:
        await self.provider.interrupt()
        await self.local.interrupt()
        await self._handed_off(cancel=True)
        return heard_of(self.delivered, self.local.clock.ms(), complete=False)

    def playback(self, utterance_id: int, position_ms: int, *, ended: bool) -> None:
        self.local.playback(utterance_id, position_ms, ended=ended)

    async def _handed_off(self, *, cancel: bool = False, keep_error: bool = False) -> None:
        """Wait for a late face's handoff to end (the local voice done); ``cancel``: now.

        The local voice's error is raised here (to the turn) unless cancelled or kept.
        """
        handoff, self._handoff = self._handoff, None
        if handoff is not None:
            if cancel:
                handoff.cancel()
            await asyncio.wait({handoff})
        if keep_error:
            return
        error, self._local_error = self._local_error, None
        if error is not None and not cancel:
            raise error

    async def aclose(self) -> None:
        await self._handed_off(cancel=True)
        await self.provider.aclose()
        await self.local.aclose()
