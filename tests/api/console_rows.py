"""Rows the console reads, written as the running system writes them: conversations, settled
avatar sessions, fallback events, leases of live connections."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.db.models import AvatarSession, Conversation, ConversationLease, UsageMonth
from visavis.ops.events import record_event
from visavis.tenancy.quotas import period_of


async def add_conversation(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    at: datetime,
    *,
    avatar_seconds: float | None = None,
    cost_microusd: int = 0,
    provider: str = "liveavatar",
    status: str = "ended",
    instance: str | None = None,
) -> uuid.UUID:
    """A conversation begun at ``at``; with ``avatar_seconds``, a settled avatar session too;
    with ``instance``, a live connection held there."""
    async with sessions() as db:
        conversation = Conversation(
            tenant_id=tenant_id,
            agent="interviewer",
            status=status,
            avatar_requested=avatar_seconds is not None,
            avatar_enabled=avatar_seconds is not None,
            avatar_provider=provider if avatar_seconds is not None else None,
            created_at=at,
        )
        db.add(conversation)
        await db.flush()
        if avatar_seconds is not None:
            db.add(
                AvatarSession(
                    tenant_id=tenant_id,
                    conversation_id=conversation.id,
                    provider=provider,
                    status="stopped",
                    created_at=at,
                    started_at=at,
                    stopped_at=at + timedelta(seconds=avatar_seconds),
                    streaming_seconds=avatar_seconds,
                    cost_microusd=cost_microusd,
                )
            )
        if instance is not None:
            db.add(
                ConversationLease(
                    conversation_id=conversation.id,
                    instance_id=instance,
                    expires_at=datetime.now(at.tzinfo) + timedelta(minutes=5),
                )
            )
        await db.commit()
        return conversation.id


async def add_fallback(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    reason: str,
    at_ms: int,
) -> None:
    """The event a conversation records when its provider's face gives way to the local voice."""
    async with sessions() as db:
        await record_event(
            db,
            tenant_id=tenant_id,
            type="avatar_fallback",
            data={"provider": "liveavatar", "reason": reason, "at_ms": at_ms},
            conversation_id=conversation_id,
        )
        await db.commit()


async def set_month_usage(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    *,
    avatar_sessions: int,
    avatar_seconds: int,
    cost_microusd: int,
) -> None:
    """This UTC month's counters, as settled avatar sessions leave them."""
    async with sessions() as db:
        await db.merge(
            UsageMonth(
                tenant_id=tenant_id,
                period=period_of(datetime.now(UTC)),
                avatar_sessions=avatar_sessions,
                avatar_seconds=avatar_seconds,
                cost_microusd=cost_microusd,
                reserved_sessions=0,
                reserved_seconds=0,
                reserved_cost_microusd=0,
            )
        )
        await db.commit()
