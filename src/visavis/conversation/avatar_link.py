"""Provider avatar sessions of live conversations: launched early, kept alive, renewed, stopped.

A conversation that asks for an avatar gets its provider session started as soon as it is
created, in parallel with everything else, so it is ready when the browser connects. A start
that fails or misses the deadline leaves the conversation audio-only, never silent.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from visavis.avatars.base import (
    AvatarProvider,
    DataSink,
    ProviderSession,
    SessionRequest,
    SpeakResult,
)
from visavis.avatars.errors import ProviderError, ProviderSessionStateError
from visavis.avatars.retry import with_retries
from visavis.config import Settings
from visavis.conversation.avatar_store import AvatarStore
from visavis.db.models import Conversation
from visavis.db.repositories.avatar_sessions import OPEN_STATUSES, AvatarSessionRepository

logger = logging.getLogger(__name__)

FailureHandler = Callable[[str, str], Awaitable[None]]
UNCLAIMED_LAUNCH_S = 300.0
#: The avatar start is given up this long before the deadline, for the fallback to speak.
FALLBACK_HEADROOM_S = 0.3
#: A sentence is only given to a session that will still be up this long after it ends.
EXPIRY_MARGIN_S = 1.0


@dataclass(frozen=True, slots=True)
class Launch:
    """How starting a provider session went."""

    row_id: uuid.UUID | None
    session: ProviderSession | None
    reason: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.session is not None


def failure_reason(error: BaseException) -> tuple[str, str]:
    """The fallback reason and a human sentence for a failed start or call."""
    if isinstance(error, TimeoutError):
        return "timeout", "the avatar provider did not answer in time"
    if isinstance(error, ProviderError):
        return error.reason, error.message
    return "provider_error", "the avatar provider failed"


class AvatarLauncher:
    """Starts provider sessions for new conversations and hands them to live sessions."""

    def __init__(
        self, *, settings: Settings, store: AvatarStore, providers: Mapping[str, AvatarProvider]
    ) -> None:
        self.settings = settings
        self.store = store
        self.providers = providers
        self._launches: dict[uuid.UUID, asyncio.Task[Launch]] = {}
        self._chores: set[asyncio.Future[None]] = set()

    def launch(self, conversation: Conversation) -> None:
        """Start the conversation's avatar in the background (call after its row is committed)."""
        if not conversation.avatar_enabled or conversation.id in self._launches:
            return
        task = asyncio.create_task(self.start(conversation), name=f"avatar-{conversation.id}")
        self._launches[conversation.id] = task
        # A result nobody came for (the client never connected) is dropped after a while; the
        # sweeper stops that session.
        task.add_done_callback(
            lambda done: asyncio.get_running_loop().call_later(
                UNCLAIMED_LAUNCH_S, self._forget, conversation.id, done
            )
        )

    def _forget(self, conversation_id: uuid.UUID, task: asyncio.Task[Launch]) -> None:
        if self._launches.get(conversation_id) is task:
            del self._launches[conversation_id]

    async def start(self, conversation: Conversation, *, quality: str | None = None) -> Launch:
        """Create and start one provider session within the start deadline."""
        name = conversation.avatar_provider or "local"
        provider = self.providers[name]
        request = SessionRequest(
            avatar_id=conversation.avatar_id, quality=quality or conversation.avatar_quality
        )
        loop = asyncio.get_running_loop()
        # Decided a moment before the deadline, so the fallback voice is speaking by then.
        budget_s = max(0.5, self.settings.avatar_start_deadline_s - FALLBACK_HEADROOM_S)
        deadline = loop.time() + budget_s
        # The row is written while the provider works; a crash in between leaves a session the
        # provider lists and we don't know, which the sweeper's reconciliation stops.
        recorded = asyncio.ensure_future(
            self.store.created(conversation, quality=request.quality, voice=None)
        )
        session: ProviderSession | None = None
        try:
            # The deadline is the provider's: our own records never turn an avatar off.
            async with asyncio.timeout_at(deadline):
                session = await with_retries(
                    lambda: provider.create_session(request),
                    deadline=time.monotonic() + budget_s,
                    provider=name,
                )
                await provider.start(session)
            row_id = await recorded
            await self.store.ready(conversation, row_id, session)
            return Launch(row_id=row_id, session=session)
        except (TimeoutError, ProviderError) as error:
            reason, detail = failure_reason(error)
            logger.warning("avatar start failed (%s) for conversation %s", reason, conversation.id)
            row_id = await recorded
            # Recorded after the conversation has been told, off its critical path.
            self._background(self._record_failure(conversation, row_id, reason, detail, session))
            return Launch(row_id=row_id, session=None, reason=reason, detail=detail)
        finally:
            if not recorded.done():
                recorded.cancel()

    async def _record_failure(
        self,
        conversation: Conversation,
        row_id: uuid.UUID,
        reason: str,
        detail: str,
        session: ProviderSession | None,
    ) -> None:
        if session is not None:
            # Created but not started in time: it must be stopped at the provider too.
            await self.store.provider_id_known(row_id, session.session_id)
        await self.store.event(conversation, "fallback", reason=reason, row_id=row_id)
        await self.store.avatar_off(
            conversation,
            reason=reason,
            detail=f"{detail}; the conversation runs audio-only",
            release_quota=True,
        )
        await self.store.stop(row_id, reason=reason, settle=False)

    def _background(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    def launched(self, conversation_id: uuid.UUID) -> bool:
        """Whether this instance's start of the conversation's avatar has finished."""
        task = self._launches.get(conversation_id)
        return task is not None and task.done()

    async def result(self, conversation: Conversation, *, timeout_s: float) -> Launch:
        """The conversation's provider session: from this instance's launch, or the database."""
        task = self._launches.pop(conversation.id, None)
        if task is not None:
            try:
                return await asyncio.wait_for(asyncio.shield(task), timeout_s)
            except TimeoutError:
                return Launch(None, None, "timeout", "the avatar was not ready in time")
        deadline = time.monotonic() + timeout_s
        while True:
            async with self.store.sessions() as db:
                row = await AvatarSessionRepository(db).open_for_conversation(conversation.id)
            if row is None:
                return Launch(None, None, "connection_failed", "the avatar session is gone")
            if row.status in ("ready", "active") and row.provider_session_id:
                session = ProviderSession(
                    provider=row.provider,
                    session_id=row.provider_session_id,
                    media=self.store.media_of(row),
                    expires_at=row.expires_at,
                )
                return Launch(row_id=row.id, session=session)
            if time.monotonic() > deadline:
                return Launch(row.id, None, "timeout", "the avatar was not ready in time")
            await asyncio.sleep(0.1)

    async def conversation_ended(self, conversation_id: uuid.UUID) -> None:
        """Stop every open session of an ended conversation and settle its quota."""
        async with self.store.sessions() as db:
            rows = await AvatarSessionRepository(db).for_conversation(conversation_id)
            open_ids = [row.id for row in rows if row.status in OPEN_STATUSES]
        for row_id in open_ids:
            await self.store.stop(row_id, reason="conversation_ended", settle=False)
        await self.store.settle(conversation_id)

    async def aclose(self) -> None:
        """Cancel launches in progress; the sweeper stops whatever they had opened."""
        for task in self._launches.values():
            task.cancel()
        if self._launches:
            await asyncio.wait(self._launches.values(), timeout=5)
        self._launches.clear()
        if self._chores:
            await asyncio.wait(set(self._chores), timeout=10)


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
    ) -> None:
        self.launcher = launcher
        self.store = launcher.store
        self.conversation = conversation
        self.provider = launcher.providers[conversation.avatar_provider or "local"]
        self.sink = sink
        self.on_failure = on_failure
        self.on_renewed = on_renewed
        self.session: ProviderSession | None = None
        self.row_id: uuid.UUID | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._renewal: asyncio.Task[Launch] | None = None
        self._retired: set[asyncio.Task[None]] = set()
        self._last_activity = time.monotonic()
        self._last_touch = 0.0
        self.speaking_until = 0.0
        self.failed = False

    @property
    def media(self) -> Mapping[str, Any] | None:
        return self.session.media if self.session is not None else None

    def adopt(self, launch: Launch) -> None:
        """Take over a started session and begin keeping it alive."""
        self.session, self.row_id = launch.session, launch.row_id
        self.failed = False
        if self._maintenance is None or self._maintenance.done():
            self._maintenance = asyncio.create_task(self._maintain(), name="avatar-maintenance")

    async def speak(self, text: str) -> SpeakResult:
        """Say ``text`` through the provider; a provider error degrades the conversation."""
        session = self._require()
        result = await self.provider.speak(session, text, sink=self.sink)
        self._last_activity = time.monotonic()
        await self._touch()
        return result

    async def interrupt(self) -> None:
        session = self.session
        if session is None or self.failed:
            return
        try:
            await self.provider.interrupt(session, sink=self.sink)
        except ProviderError as error:
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
        if self.row_id is None or time.monotonic() - self._last_touch < 10:
            return
        self._last_touch = time.monotonic()
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
            now = time.monotonic()
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
        launch = await self.launcher.start(self.conversation)
        if not launch.ok:
            logger.warning("renewing the avatar failed: %s", launch.reason)
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
        self._last_activity = time.monotonic()
        self.on_renewed(self.media)
        await self.store.event(self.conversation, "renewed", reason="renewed", row_id=self.row_id)
        if old_row is not None and old_session is not None:
            # The old session finishes what it is saying before it is stopped.
            delay = max(0.0, self.speaking_until - time.monotonic())
            retire = asyncio.create_task(self._retire(old_row, delay))
            self._retired.add(retire)
            retire.add_done_callback(self._retired.discard)
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
        await self._stop_tasks()
        for task in list(self._retired):
            await asyncio.wait({task}, timeout=5)


def _renewal_due(session: ProviderSession) -> bool:
    if session.expires_at is None:
        return False
    # Early enough that a new session is up before a long sentence would run past the end.
    length = session.max_duration_s
    lead = 60.0 if length is None else min(60.0, length * 0.5)
    return (session.expires_at - datetime.now(UTC)).total_seconds() <= lead
