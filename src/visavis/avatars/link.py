"""One live conversation's provider session: speech, keep-alive, renewal, stop."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from visavis.avatars.base import (
    AudioDrivenProvider,
    DataSink,
    FaceEvent,
    ProviderSession,
    SpeakResult,
    audio_driven,
)
from visavis.avatars.errors import ProviderError, ProviderSessionStateError
from visavis.avatars.launcher import AvatarLauncher, FailureHandler, Launch, failure_reason
from visavis.db.models import Conversation
from visavis.db.repositories.avatar_sessions import AvatarSessionRepository
from visavis.tasks import TaskSet

logger = logging.getLogger(__name__)

#: A sentence is only given to a session that will still be up this long after it ends.
EXPIRY_MARGIN_S = 1.0


class AvatarLink:
    """One live conversation's provider session: speech, keep-alive, renewal, stop."""

    def __init__(
        self,
        *,
        launcher: AvatarLauncher,
        conversation: Conversation,
        sink: DataSink,
        on_failure: FailureHandler,
        on_renewed: Callable[[Mapping[str, Any] | None], None],
        quality: str | None = None,
    ) -> None:
        self.launcher = launcher
        self.store = launcher.store
        self.conversation = conversation
        self.provider = launcher.providers[conversation.avatar_provider or "local"]
        self.sink = sink
        self.on_failure = on_failure
        self.on_renewed = on_renewed
        #: The quality the client asked for (None: the conversation's), for renewals.
        self.quality = quality
        self.session: ProviderSession | None = None
        self.row_id: uuid.UUID | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._renewal: asyncio.Task[Launch] | None = None
        self._retired = TaskSet("avatar link")
        self._last_activity = _now()
        self._last_touch = 0.0
        self.speaking_until = 0.0
        self.failed = False
        self._closed = False

    @property
    def media(self) -> Mapping[str, Any] | None:
        return self.session.media if self.session is not None else None

    def adopt(self, launch: Launch) -> None:
        """Take over a started session and begin keeping it alive."""
        self.session, self.row_id = launch.session, launch.row_id
        self.failed = False
        self._watch(self.session)
        if self._maintenance is None or self._maintenance.done():
            self._maintenance = asyncio.create_task(self._maintain(), name="avatar-maintenance")

    async def speak(self, text: str) -> SpeakResult:
        """Say ``text`` through the provider; a provider error degrades the conversation."""
        session = self._require()
        result = await self.provider.speak(session, text, sink=self.sink)
        self._last_activity = _now()
        await self._touch()
        return result

    async def begin_utterance(self) -> str:
        """Start an utterance of our audio on an audio-driven face."""
        return await self._face().begin_utterance(self._require())

    async def push_audio(self, pcm: bytes, sample_rate: int) -> None:
        """Send PCM16 mono of the open utterance (the provider re-cuts it to its chunks)."""
        await self._face().push_audio(self._require(), pcm, sample_rate)

    async def end_utterance(self) -> float:
        """Close the open utterance; the seconds of audio it carried."""
        seconds = await self._face().end_utterance(self._require())
        self._last_activity = _now()
        await self._touch()
        return seconds

    def _face(self) -> AudioDrivenProvider:
        face = audio_driven(self.provider)
        if face is None:
            raise TypeError(f"{self.provider.name} speaks text; it takes no audio")
        return face

    async def interrupt(self) -> None:
        session = self.session
        if session is None or self.failed:
            return
        try:
            await self.provider.interrupt(session, sink=self.sink)
        except ProviderError as error:
            await self._fail(error)

    def relayed(self, data: str) -> FaceEvent | None:
        """A packet the browser forwarded from the provider's room, as the face's event (a
        ``closed`` one fails the session, as an audio-driven face's own report would)."""
        session = self.session
        if session is None or self.failed:
            return None
        event = self.provider.relayed_event(data)
        if event is not None and event.kind == "closed":
            self._face_event(session.session_id, event)
        return event

    def _watch(self, session: ProviderSession | None) -> None:
        """Hear from an audio-driven face when the provider closes it (idle, no credit, …), so
        the conversation falls back at once rather than at its next sentence."""
        face = audio_driven(self.provider)
        if face is None or session is None:
            return
        session_id = session.session_id
        try:
            face.set_listener(session, lambda event: self._face_event(session_id, event))
        except ProviderError:
            logger.warning("the %s face's events cannot be followed here", self.provider.name)

    def _face_event(self, session_id: str, event: FaceEvent) -> None:
        current = self.session
        if event.kind != "closed" or self.failed or self._closed or current is None:
            return
        if current.session_id != session_id:
            return  # a session retired after a renewal, or stopped by us
        error = ProviderSessionStateError(
            f"the avatar session was closed by the provider ({event.detail or 'no reason'})",
            provider=self.provider.name,
        )
        self._retired.spawn(self._fail_when_quiet(session_id, error))

    async def _fail_when_quiet(self, session_id: str, error: ProviderError) -> None:
        # While the face is speaking, its next send fails and hands the sentence over whole
        # (under the id the client knows); a failure reported now would cut it short instead.
        # ``speaking_until`` is a moment that moves forward as sentences are sent: re-read it.
        while (left := self.speaking_until - _now()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left + 0.5)
        current = self.session
        if not self._closed and current is not None and current.session_id == session_id:
            await self._fail(error)

    def _require(self) -> ProviderSession:
        if self.session is None or self.failed:
            # Stopped meanwhile (a failure reported elsewhere, the avatar switched off): the
            # caller falls back to the local voice like for any provider error.
            raise ProviderSessionStateError(
                "the avatar session was stopped", provider=self.provider.name
            )
        return self.session

    async def _touch(self) -> None:
        if self.row_id is None or _now() - self._last_touch < 10:
            return
        self._last_touch = _now()
        async with self.store.sessions() as db:
            await AvatarSessionRepository(db).touch(self.row_id)
            await db.commit()

    async def _maintain(self) -> None:
        """Keep the session alive below its idle timeout; renew it before its maximum length."""
        limits = self.provider.limits
        interval = limits.keep_alive_interval_s
        while not self.failed and self.session is not None:
            await asyncio.sleep(1.0)
            session = self.session
            now = _now()
            if interval is not None and now - self._last_activity >= interval:
                try:
                    await self.provider.keep_alive(session)
                    self._last_activity = now
                    await self._touch()
                except ProviderError as error:
                    await self._fail(error)
                    return
            if self._renewal is None and _renewal_due(session):
                self._renewal = asyncio.create_task(self._renew(), name="avatar-renewal")

    async def _renew(self) -> Launch:
        launch = await self.launcher.start(self.conversation, quality=self.quality)
        if not launch.ok:
            logger.warning("renewing the avatar failed: %s", launch.reason)
        metrics = self.launcher.metrics
        if metrics is not None:
            provider = self.conversation.avatar_provider or "local"
            metrics.avatar_renewal(provider=provider, outcome="renewed" if launch.ok else "failed")
        return launch

    async def ensure_time_for(self, duration_ms: float) -> bool:
        """Before a sentence: make sure the session outlives it, renewing (and waiting) if not.

        Returns whether the conversation moved to a new session.
        """
        swapped = await self.swap_if_renewed()
        for _ in range(2):
            session = self.session
            if session is None or session.expires_at is None:
                return swapped
            left_s = (session.expires_at - datetime.now(UTC)).total_seconds()
            if left_s > duration_ms / 1000 + EXPIRY_MARGIN_S:
                return swapped
            if self._renewal is None:
                self._renewal = asyncio.create_task(self._renew(), name="avatar-renewal")
            await asyncio.wait({self._renewal}, timeout=max(0.1, left_s))
            swapped = await self.swap_if_renewed() or swapped
        return swapped

    async def swap_if_renewed(self) -> bool:
        """At a sentence boundary: move to the renewed session if it is ready."""
        renewal = self._renewal
        if renewal is None or not renewal.done():
            return False
        self._renewal = None
        launch = renewal.result()
        if not launch.ok:
            return False
        old_session, old_row = self.session, self.row_id
        self.session, self.row_id = launch.session, launch.row_id
        self._watch(self.session)
        self._last_activity = _now()
        self.on_renewed(self.media)
        await self.store.event(self.conversation, "renewed", reason="renewed", row_id=self.row_id)
        if old_row is not None and old_session is not None:
            # The old session finishes what it is saying before it is stopped.
            delay = max(0.0, self.speaking_until - _now())
            self._retired.spawn(self._retire(old_row, delay))
        return True

    async def _retire(self, row_id: uuid.UUID, delay_s: float) -> None:
        await asyncio.sleep(delay_s + 0.5)
        await self.store.stop(row_id, reason="renewed", settle=False)

    async def _fail(self, error: BaseException) -> None:
        if self.failed:
            return
        self.failed = True
        reason, detail = failure_reason(error)
        await self.on_failure(reason, detail)

    async def stop(self, *, reason: str, settle: bool) -> None:
        """Stop the provider session (and a renewal in flight); idempotent."""
        await self._stop_tasks()
        renewal, self._renewal = self._renewal, None
        if renewal is not None:
            renewal.cancel()
            await asyncio.wait({renewal})
            spare = None if renewal.cancelled() or renewal.exception() else renewal.result()
            if spare is not None and spare.row_id is not None:
                await self.store.stop(spare.row_id, reason=reason, settle=False)
        row_id, self.row_id, self.session = self.row_id, None, None
        if row_id is not None:
            await self.store.stop(row_id, reason=reason, settle=settle)
        elif settle:
            await self.store.settle(self.conversation.id)

    async def _stop_tasks(self) -> None:
        task, self._maintenance = self._maintenance, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait({task})

    async def aclose(self) -> None:
        """Stop keeping the session alive (the client left; it may come back); idempotent."""
        self._closed = True  # the face's events have nobody to tell any more
        face = audio_driven(self.provider)
        if face is not None and self.session is not None:
            try:
                face.set_listener(self.session, None)
            except ProviderError:
                pass  # its channel is already gone
        await self._stop_tasks()
        await self._retired.aclose(timeout_s=5)


def _renewal_due(session: ProviderSession) -> bool:
    if session.expires_at is None:
        return False
    # Early enough that a new session is up before a long sentence would run past the end.
    length = session.max_duration_s
    lead = 60.0 if length is None else min(60.0, length * 0.5)
    return (session.expires_at - datetime.now(UTC)).total_seconds() <= lead


def _now() -> float:
    """The event loop's clock (monotonic; virtual under the test kit)."""
    return asyncio.get_running_loop().time()
