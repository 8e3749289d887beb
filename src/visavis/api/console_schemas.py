"""Bodies of the console's read endpoints: usage per day, keys, live conversations, fallbacks."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from visavis.db.models import ApiKey
from visavis.db.repositories.operations import DeliveryView, Fallback, LiveConversation
from visavis.tenancy.daily_usage import DailySeries


class DailySeriesPublic(BaseModel):
    """One value per day of ``days``, in the same order."""

    conversations: list[int]
    avatar_sessions: list[int]
    avatar_seconds: list[float] = Field(description="Settled seconds of avatar sessions")
    cost_usd: list[float] = Field(description="Settled cost of avatar sessions")

    @classmethod
    def of(cls, series: DailySeries) -> DailySeriesPublic:
        return cls(
            conversations=series.conversations,
            avatar_sessions=series.avatar_sessions,
            avatar_seconds=series.avatar_seconds,
            cost_usd=[c / 1_000_000 for c in series.cost_microusd],
        )


class TenantDailyPublic(DailySeriesPublic):
    tenant: str
    tenant_id: uuid.UUID


class DailyUsagePublic(BaseModel):
    """Usage per UTC day (by the day a conversation or avatar session began), oldest first."""

    days: list[date]
    tenants: list[TenantDailyPublic]


class OwnDailyUsagePublic(DailySeriesPublic):
    """The calling tenant's usage per UTC day, oldest first."""

    days: list[date]


class ApiKeyPublic(BaseModel):
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyPublic:
        return cls(prefix=row.prefix, created_at=row.created_at, revoked_at=row.revoked_at)


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the key itself: shown once, never stored")


class ApiKeyList(BaseModel):
    items: list[ApiKeyPublic]


class LiveConversationPublic(BaseModel):
    id: uuid.UUID
    tenant: str
    agent: str
    avatar_provider: str | None
    avatar_enabled: bool
    avatar_quality: str | None
    created_at: datetime
    last_client_seen_at: datetime | None
    instance: str | None = Field(description="the instance holding its connection, if any")

    @classmethod
    def of(cls, row: LiveConversation) -> LiveConversationPublic:
        return cls.model_validate(row, from_attributes=True)


class LiveConversationList(BaseModel):
    items: list[LiveConversationPublic]


class FallbackPublic(BaseModel):
    tenant: str
    conversation_id: uuid.UUID | None
    occurred_at: datetime
    provider: str | None
    reason: str | None
    at_ms: int | None = Field(description="time into the conversation")

    @classmethod
    def of(cls, row: Fallback) -> FallbackPublic:
        data: dict[str, Any] = row.data
        at_ms = data.get("at_ms")
        return cls(
            tenant=row.tenant,
            conversation_id=row.conversation_id,
            occurred_at=row.occurred_at,
            provider=data.get("provider"),
            reason=data.get("reason"),
            at_ms=int(at_ms) if isinstance(at_ms, int | float) else None,
        )


class FallbackList(BaseModel):
    items: list[FallbackPublic]


class DeliveryOverview(BaseModel):
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

    @classmethod
    def of(cls, row: DeliveryView) -> DeliveryOverview:
        return cls.model_validate(row, from_attributes=True)


class DeliveryOverviewList(BaseModel):
    items: list[DeliveryOverview]
