"""The live conversations of this instance: one session per conversation."""

from __future__ import annotations

import asyncio
import uuid

from visavis.conversation.session import ConversationSession


class LiveConversations:
    """One ``ConversationSession`` per live conversation on this instance."""

    def __init__(self) -> None:
        self._sessions: dict[uuid.UUID, ConversationSession] = {}
        self._lock = asyncio.Lock()

    def get(self, conversation_id: uuid.UUID) -> ConversationSession | None:
        return self._sessions.get(conversation_id)

    def __len__(self) -> int:
        return len(self._sessions)

    async def attach(self, session: ConversationSession) -> ConversationSession | None:
        """Register ``session``; returns the session it replaces (a reconnecting client)."""
        async with self._lock:
            previous = self._sessions.get(session.conversation_id)
            self._sessions[session.conversation_id] = session
            return previous

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

    async def aclose(self) -> None:
        """Close every live session (server shutdown); idempotent."""
        for session in list(self._sessions.values()):
            await session.aclose(reason="server_shutdown")
        self._sessions.clear()
