"""Bodies of the usage, flags and admin endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from visavis.api.schemas import StrictModel
from visavis.db.models import FeatureFlagChange
from visavis.tenancy.flags import FlagDecision, FlagSettings
from visavis.tenancy.usage import MonthUsage, UsageReport


def _usd(microusd: int | None) -> float | None:
    return None if microusd is None else microusd / 1_000_000


class MonthUsagePublic(BaseModel):
    period: str = Field(description="UTC month, YYYY-MM")
    starts_at: datetime
    resets_at: datetime
    avatar_sessions: int
    avatar_seconds: int = Field(description="Actual seconds, plus estimates of running sessions")
    cost_usd: float = Field(description="Actual cost, plus estimates of running sessions")
    in_flight_sessions: int
    in_flight_estimated_seconds: int
    in_flight_estimated_cost_usd: float

    @classmethod
    def of(cls, month: MonthUsage) -> MonthUsagePublic:
        return cls(
            period=month.period,
            starts_at=month.starts_at,
            resets_at=month.resets_at,
            avatar_sessions=month.avatar_sessions,
            avatar_seconds=month.avatar_seconds,
            cost_usd=month.cost_microusd / 1_000_000,
            in_flight_sessions=month.in_flight_sessions,
            in_flight_estimated_seconds=month.in_flight_seconds,
            in_flight_estimated_cost_usd=month.in_flight_cost_microusd / 1_000_000,
        )


class UsageLimitsPublic(BaseModel):
    monthly_avatar_session_limit: int | None
    monthly_avatar_seconds_limit: int | None
    monthly_cost_limit_usd: float | None


class UsageRemainingPublic(BaseModel):
    avatar_sessions: int | None
    avatar_seconds: int | None
    cost_usd: float | None


class UsagePublic(BaseModel):
    """This UTC month against the limits (``null`` = unlimited), and earlier months."""

    current: MonthUsagePublic
    limits: UsageLimitsPublic
    remaining: UsageRemainingPublic
    history: list[MonthUsagePublic]

    @classmethod
    def of(cls, report: UsageReport) -> UsagePublic:
        return cls(
            current=MonthUsagePublic.of(report.current),
            limits=UsageLimitsPublic(
                monthly_avatar_session_limit=report.limits.sessions,
                monthly_avatar_seconds_limit=report.limits.seconds,
                monthly_cost_limit_usd=_usd(report.limits.cost_microusd),
            ),
            remaining=UsageRemainingPublic(
                avatar_sessions=report.remaining_sessions,
                avatar_seconds=report.remaining_seconds,
                cost_usd=_usd(report.remaining_cost_microusd),
            ),
            history=[MonthUsagePublic.of(m) for m in report.history],
        )


class FlagPublic(BaseModel):
    enabled: bool
    reason: str | None = None
    detail: str | None = None

    @classmethod
    def of(cls, decision: FlagDecision) -> FlagPublic:
        return cls(enabled=decision.enabled, reason=decision.reason, detail=decision.detail)


class FlagsPublic(BaseModel):
    """What a client of this tenant may show: each feature on or off (and why)."""

    flags: dict[str, FlagPublic]


class FlagTenantPublic(BaseModel):
    tenant: str
    tenant_id: uuid.UUID
    state: Literal["on", "off", "beta"]


class FlagAdminPublic(BaseModel):
    name: str
    description: str
    enabled: bool
    rollout_percent: int
    kill_switch: bool
    updated_at: datetime | None
    updated_by: str | None
    tenants: list[FlagTenantPublic]

    @classmethod
    def of(
        cls, flag: FlagSettings, *, description: str, tenants: list[FlagTenantPublic]
    ) -> FlagAdminPublic:
        return cls(
            name=flag.name,
            description=description,
            enabled=flag.enabled,
            rollout_percent=flag.rollout_percent,
            kill_switch=flag.kill_switch,
            updated_at=flag.updated_at,
            updated_by=flag.updated_by,
            tenants=tenants,
        )


class FlagListPublic(BaseModel):
    items: list[FlagAdminPublic]


class FlagUpdate(StrictModel):
    """Fields given are set; fields left out keep their value."""

    enabled: bool | None = None
    rollout_percent: int | None = Field(default=None, ge=0, le=100)
    kill_switch: bool | None = None


class FlagTenantUpdate(StrictModel):
    state: Literal["on", "off", "beta"]


class FlagChangePublic(BaseModel):
    flag: str
    tenant_id: uuid.UUID | None
    actor: str
    change: dict[str, Any]
    changed_at: datetime

    @classmethod
    def of(cls, row: FeatureFlagChange) -> FlagChangePublic:
        return cls(
            flag=row.flag_name,
            tenant_id=row.tenant_id,
            actor=row.actor,
            change=row.change,
            changed_at=row.changed_at,
        )


class FlagChangesPublic(BaseModel):
    items: list[FlagChangePublic]


class TenantAdminPublic(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime


class TenantListPublic(BaseModel):
    items: list[TenantAdminPublic]
