"""The live conversations of this instance, and the services they share."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.agents.registry import AgentRegistry
from visavis.config import Settings
from visavis.conversation.avatar_link import AvatarLauncher
from visavis.conversation.synthesis import SynthesisScheduler
from visavis.speech.tts.base import TTSEngine
from visavis.tenancy.flags import FlagCache

if TYPE_CHECKING:
    from visavis.conversation.session import ConversationSession


@dataclass
class LiveServices:
    """What every live conversation of the instance uses: one voice, the agents, the store."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    agents: AgentRegistry
    tts: TTSEngine
    synthesis: SynthesisScheduler
    launcher: AvatarLauncher | None = None
    flags: FlagCache | None = None


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
