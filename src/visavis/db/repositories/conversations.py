"""Conversations of a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import utcnow
from visavis.db.models import Conversation
from visavis.errors import NotFoundError

ACTIVE_STATUSES = ("created", "active")


class ConversationRepository:
    """Tenant-scoped access to conversations: another tenant's id is simply not found."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def add(self, conversation: Conversation) -> Conversation:
        conversation.tenant_id = self.tenant_id
        self.session.add(conversation)
        await self.session.flush()
        return conversation

    async def get(self, conversation_id: uuid.UUID, *, for_update: bool = False) -> Conversation:
        query = select(Conversation).where(
            Conversation.id == conversation_id, Conversation.tenant_id == self.tenant_id
        )
        if for_update:
            query = query.with_for_update()
        result = await self.session.execute(query)
        conversation = result.scalar_one_or_none()
        if conversation is None:
            raise NotFoundError("conversation not found")
        return conversation

    async def page(
        self, *, status: str | None, before: uuid.UUID | None, limit: int
    ) -> tuple[Sequence[Conversation], uuid.UUID | None]:
        """Newest first; returns the page and the id to continue from (``None`` at the end)."""
        query = select(Conversation).where(Conversation.tenant_id == self.tenant_id)
        if status is not None:
            query = query.where(Conversation.status == status)
        if before is not None:
            query = query.where(Conversation.id < before)
        query = query.order_by(Conversation.id.desc()).limit(limit + 1)
        rows = (await self.session.execute(query)).scalars().all()
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].id
        return rows, None

    async def end(self, conversation_id: uuid.UUID, *, reason: str) -> Conversation:
        """Mark the conversation ended once; ending an ended conversation changes nothing."""
        await self.session.execute(
            update(Conversation)
            .where(
                Conversation.id == conversation_id,
                Conversation.tenant_id == self.tenant_id,
                Conversation.status.in_(ACTIVE_STATUSES),
            )
            .values(status="ended", ended_at=utcnow(), end_reason=reason)
            .execution_options(synchronize_session=False)
        )
        conversation = await self.get(conversation_id)
        await self.session.refresh(conversation)
        return conversation

    async def mark_active(self, conversation_id: uuid.UUID, *, seen_at: datetime) -> None:
        await self.session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.tenant_id == self.tenant_id)
            .values(last_client_seen_at=seen_at)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.status == "created")
            .values(status="active")
            .execution_options(synchronize_session=False)
        )
