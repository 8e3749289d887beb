"""Conversation leases: taking a live conversation over, keeping it, watching for its end."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import utcnow
from visavis.db.models import Conversation, ConversationLease


@dataclass(frozen=True, slots=True)
class LeaseView:
    """What an instance needs to know about a conversation it holds."""

    conversation_id: uuid.UUID
    instance_id: str
    epoch: int
    status: str
    end_reason: str | None


class LeaseRepository:
    """Leases are the deployment's, not a tenant's: use an unscoped session. The caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def take_over(self, conversation_id: uuid.UUID, *, instance_id: str, ttl_s: float) -> int:
        """Hold the conversation now (whoever held it before); returns this holding's epoch."""
        expires = utcnow() + timedelta(seconds=ttl_s)
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(ConversationLease).values(
            conversation_id=conversation_id,
            instance_id=instance_id,
            epoch=1,
            expires_at=expires,
            greeted=False,
        )
        upsert = statement.on_conflict_do_update(
            index_elements=[ConversationLease.conversation_id],
            set_={
                "instance_id": instance_id,
                "epoch": ConversationLease.epoch + 1,
                "expires_at": expires,
            },
        ).returning(ConversationLease.epoch)
        epoch = await self.session.scalar(upsert)
        assert epoch is not None
        return int(epoch)

    async def claim_greeting(self, conversation_id: uuid.UUID, *, epoch: int) -> bool:
        """Whether this holding may greet: once per conversation, and only while it holds it."""
        result = await self.session.execute(
            update(ConversationLease)
            .where(
                ConversationLease.conversation_id == conversation_id,
                ConversationLease.epoch == epoch,
                ConversationLease.greeted.is_(False),
            )
            .values(greeted=True)
        )
        return bool(getattr(result, "rowcount", 0))

    async def watch(
        self, held: Collection[uuid.UUID], *, instance_id: str, ttl_s: float
    ) -> list[LeaseView]:
        """Renew this instance's leases of ``held``, and say how each conversation stands."""
        if not held:
            return []
        await self.session.execute(
            update(ConversationLease)
            .where(
                ConversationLease.conversation_id.in_(list(held)),
                ConversationLease.instance_id == instance_id,
            )
            .values(expires_at=utcnow() + timedelta(seconds=ttl_s))
        )
        rows = await self.session.execute(
            select(
                ConversationLease.conversation_id,
                ConversationLease.instance_id,
                ConversationLease.epoch,
                Conversation.status,
                Conversation.end_reason,
            )
            .join(Conversation, Conversation.id == ConversationLease.conversation_id)
            .where(ConversationLease.conversation_id.in_(list(held)))
        )
        return [LeaseView(*row) for row in rows.all()]

    async def release(self, conversation_id: uuid.UUID, *, instance_id: str, epoch: int) -> None:
        """Let the lease lapse now, if this holding still has it."""
        await self.session.execute(
            update(ConversationLease)
            .where(
                ConversationLease.conversation_id == conversation_id,
                ConversationLease.instance_id == instance_id,
                ConversationLease.epoch == epoch,
            )
            .values(expires_at=utcnow())
        )
