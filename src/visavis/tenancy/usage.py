"""A tenant's usage: this UTC month against its limits, and the months before."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import UsageMonth
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.repositories.usage import UsageRepository
from visavis.tenancy.quotas import QuotaLimits, period_of, period_resets_at


@dataclass(frozen=True, slots=True)
class MonthUsage:
    """One month's figures; ``in_flight_*`` are estimates of sessions not yet settled."""

    period: str
    starts_at: datetime
    resets_at: datetime
    avatar_sessions: int = 0
    avatar_seconds: int = 0
    cost_microusd: int = 0
    in_flight_sessions: int = 0
    in_flight_seconds: int = 0
    in_flight_cost_microusd: int = 0

    @classmethod
    def of(cls, period: str, row: UsageMonth | None) -> MonthUsage:
        year, month = (int(part) for part in period.split("-"))
        base = cls(
            period=period,
            starts_at=datetime(year, month, 1, tzinfo=UTC),
            resets_at=period_resets_at(period),
        )
        if row is None:
            return base
        return cls(
            period=period,
            starts_at=base.starts_at,
            resets_at=base.resets_at,
            avatar_sessions=row.avatar_sessions,
            avatar_seconds=row.avatar_seconds,
            cost_microusd=row.cost_microusd,
            in_flight_sessions=row.reserved_sessions,
            in_flight_seconds=row.reserved_seconds,
            in_flight_cost_microusd=row.reserved_cost_microusd,
        )


@dataclass(frozen=True, slots=True)
class UsageReport:
    """This month, the limits, what remains of them (``None`` = unlimited), and past months."""

    current: MonthUsage
    limits: QuotaLimits
    remaining_sessions: int | None
    remaining_seconds: int | None
    remaining_cost_microusd: int | None
    history: list[MonthUsage]


def _remaining(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)


async def usage_report(
    session: AsyncSession, tenant_id: uuid.UUID, *, months: int = 12, now: datetime | None = None
) -> UsageReport:
    """The tenant's usage this UTC month and up to ``months`` earlier months with usage."""
    period = period_of(now or datetime.now(UTC))
    prefs = await TenantRepository(session).preferences(tenant_id)
    limits = QuotaLimits.of(prefs)
    repo = UsageRepository(session, tenant_id)
    current = MonthUsage.of(period, await repo.month(period))
    history = [
        MonthUsage.of(row.period, row)
        for row in await repo.months(limit=months + 1)
        if row.period < period
    ][:months]
    return UsageReport(
        current=current,
        limits=limits,
        remaining_sessions=_remaining(limits.sessions, current.avatar_sessions),
        remaining_seconds=_remaining(limits.seconds, current.avatar_seconds),
        remaining_cost_microusd=_remaining(limits.cost_microusd, current.cost_microusd),
        history=history,
    )
