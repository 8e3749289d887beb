"""Usage per UTC day as plottable series: one value per day, zero on days without usage."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.repositories.usage_days import DayRow, UsageDaysRepository

MAX_DAYS = 366


@dataclass(slots=True)
class DailySeries:
    """One tenant's figures, index ``i`` being the ``i``-th day of the report."""

    tenant_id: uuid.UUID
    conversations: list[int] = field(default_factory=list)
    avatar_sessions: list[int] = field(default_factory=list)
    avatar_seconds: list[float] = field(default_factory=list)
    cost_microusd: list[int] = field(default_factory=list)

    @classmethod
    def empty(cls, tenant_id: uuid.UUID, days: int) -> DailySeries:
        return cls(tenant_id, [0] * days, [0] * days, [0.0] * days, [0] * days)


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """The days covered (oldest first, the last being today) and each tenant's series."""

    days: list[date]
    series: dict[uuid.UUID, DailySeries]


def _fill(days: list[date], tenants: Iterable[uuid.UUID], rows: Iterable[DayRow]) -> DailyUsage:
    index = {d.isoformat(): i for i, d in enumerate(days)}
    series = {t: DailySeries.empty(t, len(days)) for t in tenants}
    for row in rows:
        target = series.get(row.tenant_id)
        i = index.get(row.day)
        if target is None or i is None:
            continue
        target.conversations[i] = row.conversations
        target.avatar_sessions[i] = row.avatar_sessions
        target.avatar_seconds[i] = round(row.avatar_seconds, 1)
        target.cost_microusd[i] = row.cost_microusd
    return DailyUsage(days=days, series=series)


async def daily_usage(
    session: AsyncSession,
    tenants: Iterable[uuid.UUID],
    *,
    days: int = 30,
    scope: uuid.UUID | None = None,
    today: date | None = None,
) -> DailyUsage:
    """The last ``days`` UTC days of usage of ``tenants``; ``scope`` limits the query to one
    tenant (a tenant's own, row-level-secured session)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1-{MAX_DAYS}")
    last = today or datetime.now(UTC).date()
    covered = [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    rows = await UsageDaysRepository(session, scope).days(covered[0], last)
    return _fill(covered, tenants, rows)
