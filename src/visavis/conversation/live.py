"""The live conversations of this instance, and who holds each one across instances.

A conversation is live on one connection at a time, wherever it is. Every new connection takes
the conversation's lease over in the database (its epoch goes up by one); the instance holding
an older epoch sees it within ``check_s`` and closes that connection (4409), and an instance
sees within the same time that a conversation was ended elsewhere (REST on another instance)
and ends it here. With Redis, the instance that made the change also publishes a notice
(``notices``), and the holder checks at once instead of at its next round. Leases are renewed
while held; the greeting is claimed once per conversation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.conversation.notices import OwnerNotices
from visavis.conversation.services import Holding
from visavis.conversation.session import ConversationSession
from visavis.db.outage import is_database_outage
from visavis.db.repositories.leases import LeaseRepository
from visavis.ops.metrics import Metrics

logger = logging.getLogger(__name__)


def new_instance_id() -> str:
    """A name for this process, unique across restarts (host, pid, and a random part)."""
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class LiveConversations:
    """One ``ConversationSession`` per live conversation on this instance."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        *,
        instance_id: str | None = None,
        check_s: float = 1.0,
        lease_ttl_s: float = 30.0,
        notices: OwnerNotices | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = sessions
        self.instance_id = instance_id or new_instance_id()
        self.check_s = check_s
        self.lease_ttl_s = lease_ttl_s
        self.notices = notices
        self.metrics = metrics
        self._sessions: dict[uuid.UUID, ConversationSession] = {}
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._noticed = asyncio.Event()
        #: Conversations a notice was heard about since their last check.
        self._noticed_ids: set[uuid.UUID] = set()

    def get(self, conversation_id: uuid.UUID) -> ConversationSession | None:
        return self._sessions.get(conversation_id)

    def __len__(self) -> int:
        return len(self._sessions)

    async def take_over(self, conversation_id: uuid.UUID) -> Holding | None:
        """Hold ``conversation_id`` now, taking it from whoever held it (None: no database)."""
        if self.db is None:
            return None
        async with self.db() as db:
            epoch = await LeaseRepository(db).take_over(
                conversation_id, instance_id=self.instance_id, ttl_s=self.lease_ttl_s
            )
            await db.commit()
        await self.tell_holder(conversation_id, "takeover")
        return Holding(self.instance_id, epoch)

    async def tell_holder(self, conversation_id: uuid.UUID, kind: str) -> None:
        """The conversation changed in the database (``end``, ``takeover``): with Redis, its
        holder on another instance hears it now rather than at its next round."""
        if self.notices is not None:
            await self.notices.publish(conversation_id, kind)

    async def attach(self, session: ConversationSession) -> bool:
        """Register ``session``, closing the one it replaces here; ``False`` when a newer
        connection of the same conversation already holds it (``session`` must then close)."""
        async with self._lock:
            previous = self._sessions.get(session.conversation_id)
            if previous is not None and _epoch(previous) > _epoch(session):
                return False
            self._sessions[session.conversation_id] = session
        if previous is not None and previous is not session:
            await previous.aclose(reason="replaced_by_new_connection", code=4409)
        return True

    async def detach(self, session: ConversationSession) -> None:
        """Forget ``session`` if it is still the live one."""
        async with self._lock:
            if self._sessions.get(session.conversation_id) is session:
                del self._sessions[session.conversation_id]

    async def end(self, conversation_id: uuid.UUID, *, reason: str) -> None:
        """The conversation ended elsewhere (REST, sweeper): tell its client and close."""
        session = self._sessions.get(conversation_id)
        if session is not None:
            await session.end(reason=reason, by_server=True)

    def start(self) -> None:
        """Watch the leases of the conversations held here (needs the database), and hear
        notices about them (with Redis)."""
        if self._watcher is None and self.db is not None:
            self._watcher = asyncio.create_task(self._watch(), name="conversation-leases")
            if self.notices is not None:
                self._listener = asyncio.create_task(
                    self.notices.listen(self._notice), name="owner-notices"
                )

    async def _notice(self, conversation_id: uuid.UUID, kind: str) -> None:
        if conversation_id in self._sessions:
            logger.debug("notice %s for conversation %s", kind, conversation_id)
            self._noticed_ids.add(conversation_id)
            self._noticed.set()

    async def _watch(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.check_s):
                    await self._noticed.wait()
            except TimeoutError:
                pass
            self._noticed.clear()
            try:
                await self.check()
            except Exception as error:  # the next round retries; watching must not stop
                if is_database_outage(error):
                    logger.warning("cannot check conversation leases: %s", error)
                else:
                    logger.exception("checking conversation leases failed")

    async def check(self) -> None:
        """One round: renew our leases; close what another connection took over or that ended.

        Each conversation closed because of a change made elsewhere is counted by what brought
        the news: ``pubsub`` if a notice about it came before the close, else ``poll``. (Per
        conversation, not per round: a notice landing while a timer's round is reading the
        leases still counts as the notice's doing.)
        """
        if self.db is None or not self._sessions:
            self._noticed_ids.clear()
            return
        held = dict(self._sessions)
        # A notice heard during this round stays for the next one, which it also started.
        answered = set(self._noticed_ids)
        async with self.db() as db:
            views = await LeaseRepository(db).watch(
                held, instance_id=self.instance_id, ttl_s=self.lease_ttl_s
            )
            await db.commit()
        for view in views:
            session = held[view.conversation_id]
            if session.journal.closing:
                continue
            heard_by = "pubsub" if view.conversation_id in self._noticed_ids else "poll"
            if view.status == "ended":
                self._closed_elsewhere("end", heard_by)
                await session.end(reason=view.end_reason or "ended_elsewhere", by_server=True)
            elif view.instance_id != self.instance_id or view.epoch != _epoch(session):
                self._closed_elsewhere("takeover", heard_by)
                await session.aclose(reason="replaced_by_new_connection", code=4409)
        self._noticed_ids -= answered
        self._noticed_ids.intersection_update(self._sessions)

    def _closed_elsewhere(self, kind: str, heard_by: str) -> None:
        logger.info("closing a conversation: %s elsewhere, heard by %s", kind, heard_by)
        if self.metrics is not None:
            self.metrics.owner_change_heard(kind=kind, path=heard_by)

    async def aclose(self) -> None:
        """Stop watching and close every live session (server shutdown); idempotent."""
        for task in (self._watcher, self._listener):
            if task is not None:
                task.cancel()
                await asyncio.wait({task})
        self._watcher = self._listener = None
        if self.notices is not None:
            await self.notices.aclose()
        for session in list(self._sessions.values()):
            await session.aclose(reason="server_shutdown")
        self._sessions.clear()


def _epoch(session: ConversationSession) -> int:
    return session.holding.epoch if session.holding is not None else 0
