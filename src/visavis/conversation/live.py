"""The live conversations of this instance, and who holds each one across instances.

A conversation is live on one connection at a time, wherever it is. Every new connection takes
the conversation's lease over in the database (its epoch goes up by one); the instance holding
an older epoch sees it within ``check_s`` and closes that connection (4409), and an instance
sees within the same time that a conversation was ended elsewhere (REST on another instance)
and ends it here. Leases are renewed while held; the greeting is claimed once per conversation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.conversation.services import Holding
from visavis.conversation.session import ConversationSession
from visavis.db.outage import is_database_outage
from visavis.db.repositories.leases import LeaseRepository

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
    ) -> None:
        self.db = sessions
        self.instance_id = instance_id or new_instance_id()
        self.check_s = check_s
        self.lease_ttl_s = lease_ttl_s
        self._sessions: dict[uuid.UUID, ConversationSession] = {}
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

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
        return Holding(self.instance_id, epoch)

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
        """Watch the leases of the conversations held here (needs the database)."""
        if self._watcher is None and self.db is not None:
            self._watcher = asyncio.create_task(self._watch(), name="conversation-leases")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self.check()
            except Exception as error:  # the next round retries; watching must not stop
                if is_database_outage(error):
                    logger.warning("cannot check conversation leases: %s", error)
                else:
                    logger.exception("checking conversation leases failed")

    async def check(self) -> None:
        """One round: renew our leases; close what another connection took over or that ended."""
        if self.db is None or not self._sessions:
            return
        held = dict(self._sessions)
        async with self.db() as db:
            views = await LeaseRepository(db).watch(
                held, instance_id=self.instance_id, ttl_s=self.lease_ttl_s
            )
            await db.commit()
        for view in views:
            session = held[view.conversation_id]
            if view.status == "ended":
                await session.end(reason=view.end_reason or "ended_elsewhere", by_server=True)
            elif view.instance_id != self.instance_id or view.epoch != _epoch(session):
                await session.aclose(reason="replaced_by_new_connection", code=4409)

    async def aclose(self) -> None:
        """Stop watching and close every live session (server shutdown); idempotent."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            await asyncio.wait({watcher})
        for session in list(self._sessions.values()):
            await session.aclose(reason="server_shutdown")
        self._sessions.clear()


def _epoch(session: ConversationSession) -> int:
    return session.holding.epoch if session.holding is not None else 0
