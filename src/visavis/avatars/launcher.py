"""Starting provider avatar sessions for conversations: launched early, handed over on connect.

A conversation that asks for an avatar gets its provider session started as soon as it is
created, in parallel with everything else, so it is ready when the browser connects. That
first start may take up to the join limit: a face not ready by the start deadline lets the
conversation begin with the local voice and joins it late. A start that fails (or outlasts
the join limit) leaves the conversation audio-only, never silent.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from visavis.avatars.audio_stream import AudioStreamingProvider
from visavis.avatars.base import (
    AvatarProvider,
    ProviderSession,
    SessionRequest,
)
from visavis.avatars.errors import ProviderError
from visavis.avatars.retry import with_retries
from visavis.avatars.store import AvatarStore
from visavis.config import Settings
from visavis.db.models import Conversation
from visavis.db.repositories.avatar_sessions import OPEN_STATUSES, AvatarSessionRepository
from visavis.ops.metrics import Metrics
from visavis.tasks import TaskSet

logger = logging.getLogger(__name__)

FailureHandler = Callable[[str, str], Awaitable[None]]
UNCLAIMED_LAUNCH_S = 300.0
#: The avatar start is given up this long before the deadline, for the fallback to speak (its
#: first frame must be out by the deadline even on a busy machine; a face may still join late).
FALLBACK_HEADROOM_S = 0.8


@dataclass(frozen=True, slots=True)
class Launch:
    """How starting a provider session went."""

    row_id: uuid.UUID | None
    session: ProviderSession | None
    reason: str | None = None
    detail: str | None = None
    #: Not ready in time, but still starting: asking again later may get the session.
    pending: bool = False

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
        self,
        *,
        settings: Settings,
        store: AvatarStore,
        providers: Mapping[str, AvatarProvider],
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.providers = providers
        self.metrics = metrics
        self._launches: dict[uuid.UUID, asyncio.Task[Launch]] = {}
        self._chores = TaskSet("avatar launcher")

    def launch(self, conversation: Conversation) -> None:
        """Start the conversation's avatar in the background (call after its row is committed)."""
        if not conversation.avatar_enabled or conversation.id in self._launches:
            return
        task = asyncio.create_task(
            self.start(conversation, budget_s=self.settings.avatar_join_limit_s),
            name=f"avatar-{conversation.id}",
        )
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

    async def start(
        self,
        conversation: Conversation,
        *,
        quality: str | None = None,
        budget_s: float | None = None,
    ) -> Launch:
        """Create and start one provider session within ``budget_s`` (default: a moment
        before the start deadline, so the fallback voice is speaking by then)."""
        name = conversation.avatar_provider or "local"
        provider = self.providers[name]
        request = SessionRequest(
            avatar_id=conversation.avatar_id, quality=quality or conversation.avatar_quality
        )
        loop = asyncio.get_running_loop()
        if budget_s is None:
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
            if self.metrics is not None:
                took = loop.time() - (deadline - budget_s)
                self.metrics.avatar_start(provider=name, outcome="started", seconds=took)
            return Launch(row_id=row_id, session=session)
        except (TimeoutError, ProviderError) as error:
            reason, detail = failure_reason(error)
            if self.metrics is not None:
                outcome = "timeout" if isinstance(error, TimeoutError) else "failed"
                self.metrics.avatar_start(provider=name, outcome=outcome)
            logger.warning("avatar start failed (%s) for conversation %s", reason, conversation.id)
            row_id = await recorded
            # Recorded after the conversation has been told, off its critical path.
            self._chores.spawn(self._record_failure(conversation, row_id, reason, detail, session))
            return Launch(row_id=row_id, session=None, reason=reason, detail=detail)
        except asyncio.CancelledError:
            # Abandoned (the conversation ended first): a session the provider already made
            # is written down, so stopping the conversation's sessions stops it there too.
            if session is not None and recorded.done() and not recorded.cancelled():
                known = self.store.provider_id_known(recorded.result(), session.session_id)
                await asyncio.shield(known)
            raise
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

    def launched(self, conversation_id: uuid.UUID) -> bool:
        """Whether this instance's start of the conversation's avatar has finished."""
        task = self._launches.get(conversation_id)
        return task is not None and task.done()

    def starting(self, conversation_id: uuid.UUID) -> bool:
        """Whether this instance is still starting the conversation's avatar."""
        task = self._launches.get(conversation_id)
        return task is not None and not task.done()

    async def abandon(self, conversation_id: uuid.UUID) -> None:
        """Stop starting the conversation's avatar (it ended before the face came)."""
        task = self._launches.pop(conversation_id, None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def result(self, conversation: Conversation, *, timeout_s: float) -> Launch:
        """The conversation's provider session: from this instance's launch, or the database.

        A launch not finished within ``timeout_s`` goes on: asking again later may still get
        its session (the face joins late).
        """
        task = self._launches.get(conversation.id)
        if task is not None:
            try:
                launch = await asyncio.wait_for(asyncio.shield(task), timeout_s)
            except TimeoutError:
                return Launch(None, None, "timeout", "the avatar was not ready in time", True)
            self._forget(conversation.id, task)
            return launch
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
                    channel_url=self.store.channel_url_of(row),
                )
                return await self._take_over(row.id, session)
            if time.monotonic() > deadline:
                return Launch(row.id, None, "timeout", "the avatar was not ready in time", True)
            await asyncio.sleep(0.1)

    async def _take_over(self, row_id: uuid.UUID, session: ProviderSession) -> Launch:
        """A session another instance started (or this one before a reconnect): the control
        channel our audio drives it through is opened in this process if it is not here."""
        provider = self.providers.get(session.provider)
        if (
            session.channel_url is None
            or not isinstance(provider, AudioStreamingProvider)
            or provider.has_channel(session.session_id)
        ):
            return Launch(row_id=row_id, session=session)
        try:
            await provider.start(session)
        except ProviderError as error:
            reason, detail = failure_reason(error)
            logger.warning("avatar channel could not be opened here (%s)", reason)
            return Launch(row_id, None, reason, detail)
        return Launch(row_id=row_id, session=session)

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
        await self._chores.aclose(timeout_s=10)
