"""What an operator watches across tenants: live conversations, fallbacks, webhook deliveries.

Every query here reads all tenants' rows: use it with an admin's unscoped session only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import utcnow
from visavis.db.models import (
    AnalyticsEvent,
    Conversation,
    ConversationLease,
    Tenant,
    WebhookDelivery,
    WebhookEndpoint,
)


@dataclass(frozen=True, slots=True)
class LiveConversation:
    """An active conversation; ``instance`` holds its connection (``None``: nobody right now)."""

    id: uuid.UUID
    tenant: str
    agent: str
    avatar_provider: str | None
    avatar_enabled: bool
    avatar_quality: str | None
    created_at: datetime
    last_client_seen_at: datetime | None
    instance: str | None


@dataclass(frozen=True, slots=True)
class Fallback:
    """A conversation whose avatar gave way to the local voice, and why."""

    tenant: str
    conversation_id: uuid.UUID | None
    occurred_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One event on its way to one tenant's endpoint."""

    id: uuid.UUID
    tenant: str
    endpoint_id: uuid.UUID
    url: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None


class OperationsRepository:
    """Read-only views across tenants, newest first."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def live_conversations(self, *, limit: int) -> Sequence[LiveConversation]:
        held = and_(
            ConversationLease.conversation_id == Conversation.id,
            ConversationLease.expires_at > utcnow(),
        )
        query = (
            select(Conversation, Tenant.name, ConversationLease.instance_id)
            .join(Tenant, Tenant.id == Conversation.tenant_id)
            .outerjoin(ConversationLease, held)
            .where(Conversation.status == "active")
            .order_by(Conversation.id.desc())
            .limit(limit)
        )
        return [
            LiveConversation(
                id=row.id,
                tenant=tenant,
                agent=row.agent,
                avatar_provider=row.avatar_provider,
                avatar_enabled=row.avatar_enabled,
                avatar_quality=row.avatar_quality,
                created_at=row.created_at,
                last_client_seen_at=row.last_client_seen_at,
                instance=instance,
            )
            for row, tenant, instance in (await self.session.execute(query)).all()
        ]

    async def recent_fallbacks(self, *, limit: int) -> Sequence[Fallback]:
        query = (
            select(AnalyticsEvent, Tenant.name)
            .join(Tenant, Tenant.id == AnalyticsEvent.tenant_id)
            .where(AnalyticsEvent.type == "avatar_fallback")
            .order_by(AnalyticsEvent.id.desc())
            .limit(limit)
        )
        return [
            Fallback(
                tenant=tenant,
                conversation_id=row.conversation_id,
                occurred_at=row.occurred_at,
                data=row.data,
            )
            for row, tenant in (await self.session.execute(query)).all()
        ]

    async def recent_deliveries(self, *, status: str | None, limit: int) -> Sequence[DeliveryView]:
        query = (
            select(WebhookDelivery, Tenant.name, WebhookEndpoint.url, AnalyticsEvent.type)
            .join(Tenant, Tenant.id == WebhookDelivery.tenant_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(AnalyticsEvent, AnalyticsEvent.id == WebhookDelivery.event_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        return [
            DeliveryView(
                id=row.id,
                tenant=tenant,
                endpoint_id=row.endpoint_id,
                url=url,
                event_type=event_type,
                status=row.status,
                attempts=row.attempts,
                created_at=row.created_at,
                last_attempt_at=row.last_attempt_at,
                last_status_code=row.last_status_code,
                last_error=row.last_error,
            )
            for row, tenant, url, event_type in (await self.session.execute(query)).all()
        ]
