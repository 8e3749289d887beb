"""Analytics events: stored per tenant, read with ``GET /v1/events``, sent to tenant webhooks.

An event and its pending webhook deliveries are written in one transaction (an outbox): when
the transaction commits, the event will reach every subscribed endpoint at least once, even if
this instance dies right after. Delivery itself is :mod:`visavis.ops.webhooks`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.db.base import utcnow
from visavis.db.ids import uuid7
from visavis.db.models import AnalyticsEvent, WebhookDelivery, WebhookEndpoint
from visavis.errors import InvalidInputError
from visavis.ops.metrics import Metrics

logger = logging.getLogger(__name__)

#: The event types, and the fields each one's ``data`` carries (documented in docs/operations.md).
EVENT_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "conversation_started": ("agent", "avatar_provider"),
    "conversation_ended": ("reason", "duration_s", "turns"),
    "turn_completed": ("turn", "first_text_ms", "first_audio_ms", "interrupted"),
    "avatar_session_started": ("provider", "avatar_id", "start_ms"),
    "avatar_fallback": ("provider", "reason", "at_ms"),
    "avatar_quality_changed": ("provider", "from", "to", "reason"),
    "quota_refused": ("limit", "period", "provider"),
    "webhook_endpoint_disabled": ("endpoint_id", "reason"),
}
_MAX_DATA_KEYS = 32


def check_event(type: str, data: Mapping[str, Any]) -> None:  # noqa: A002 - the event's field
    """Raise ``InvalidInputError`` for an unknown type or data that is not a small flat object."""
    if type not in EVENT_TYPES:
        raise InvalidInputError(f"unknown event type {type!r}: one of {', '.join(EVENT_TYPES)}")
    if len(data) > _MAX_DATA_KEYS:
        raise InvalidInputError(f"an event carries at most {_MAX_DATA_KEYS} fields")
    for key, value in data.items():
        if not isinstance(value, str | int | float | bool | None):
            raise InvalidInputError(f"event field {key!r} must be a string, number or boolean")


async def record_event(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    type: str,  # noqa: A002 - the event's field
    data: Mapping[str, Any] | None = None,
    conversation_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> AnalyticsEvent:
    """Add an event and a pending delivery to each enabled endpoint that wants it; the caller
    commits (so the event is stored with the change it reports, or not at all)."""
    payload = dict(data or {})
    check_event(type, payload)
    event = AnalyticsEvent(
        id=uuid7(),
        tenant_id=tenant_id,
        type=type,
        conversation_id=conversation_id,
        occurred_at=occurred_at or utcnow(),
        data=payload,
    )
    session.add(event)
    endpoints = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled.is_(True)
        )
    )
    for endpoint_id, wanted in endpoints.all():
        if wanted is None or type in wanted:
            session.add(
                WebhookDelivery(
                    tenant_id=tenant_id,
                    endpoint_id=endpoint_id,
                    event_id=event.id,
                    status="pending",
                    attempts=0,
                    next_attempt_at=event.occurred_at,
                    created_at=event.occurred_at,
                )
            )
    await session.flush()
    return event


class EventRecorder:
    """What the rest of the instance calls: store an event in a transaction of its own, count
    it, and wake this instance's webhook dispatcher so delivery starts at once."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], metrics: Metrics | None = None
    ) -> None:
        self.sessions = sessions
        self.metrics = metrics
        self.wake = asyncio.Event()

    async def record(
        self,
        *,
        tenant_id: uuid.UUID,
        type: str,  # noqa: A002 - the event's field
        data: Mapping[str, Any] | None = None,
        conversation_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Store one event now; returns its id. Raises ``InvalidInputError`` for a bad event."""
        async with self.sessions() as session:
            event = await record_event(
                session,
                tenant_id=tenant_id,
                type=type,
                data=data,
                conversation_id=conversation_id,
            )
            await session.commit()
        self.recorded(type)
        return event.id

    def recorded(self, type: str) -> None:  # noqa: A002 - the event's field
        """An event was committed by someone else's transaction: count it, wake delivery."""
        if self.metrics is not None:
            self.metrics.event_recorded(type=type)
        self.wake.set()


async def events_page(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    types: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: uuid.UUID | None = None,
    limit: int = 100,
) -> list[AnalyticsEvent]:
    """The tenant's events, oldest first, after the cursor ``after`` (an event id)."""
    query = select(AnalyticsEvent).where(AnalyticsEvent.tenant_id == tenant_id)
    if types:
        query = query.where(or_(*(AnalyticsEvent.type == t for t in types)))
    if since is not None:
        query = query.where(AnalyticsEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AnalyticsEvent.occurred_at < until)
    if after is not None:
        query = query.where(AnalyticsEvent.id > after)
    result = await session.execute(query.order_by(AnalyticsEvent.id).limit(limit))
    return list(result.scalars().all())
