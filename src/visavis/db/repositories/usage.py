"""A tenant's monthly usage counters and quota reservations: atomic, conditional updates only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    Uuid,
    and_,
    bindparam,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import UTCDateTime, utcnow
from visavis.db.models import QuotaReservation, UsageMonth

# Built once: the hot path of every avatar start. A NULL limit means unlimited.
_COUNT_IF_WITHIN_LIMITS = """
UPDATE usage_months SET
    avatar_sessions = avatar_sessions + 1,
    avatar_seconds = avatar_seconds + :seconds,
    cost_microusd = cost_microusd + :cost,
    reserved_sessions = reserved_sessions + 1,
    reserved_seconds = reserved_seconds + :seconds,
    reserved_cost_microusd = reserved_cost_microusd + :cost,
    updated_at = :now
WHERE tenant_id = :tenant AND period = :period
    AND (CAST(:session_limit AS BIGINT) IS NULL
         OR avatar_sessions + 1 <= CAST(:session_limit AS BIGINT))
    AND (CAST(:seconds_limit AS BIGINT) IS NULL
         OR avatar_seconds + :seconds <= CAST(:seconds_limit AS BIGINT))
    AND (CAST(:cost_limit AS BIGINT) IS NULL
         OR cost_microusd + :cost <= CAST(:cost_limit AS BIGINT))
"""
_RECORD = """
INSERT INTO quota_reservations
    (id, tenant_id, period, status, estimated_seconds, estimated_cost_microusd, created_at)
VALUES (:id, :tenant, :period, 'reserved', :seconds, :cost, :now)
"""
# PostgreSQL: the same two statements in one round trip; nothing is recorded if not admitted.
_COUNT_AND_RECORD = f"""
WITH admitted AS ({_COUNT_IF_WITHIN_LIMITS}    RETURNING tenant_id, period
)
INSERT INTO quota_reservations
    (id, tenant_id, period, status, estimated_seconds, estimated_cost_microusd, created_at)
SELECT :id, tenant_id, period, 'reserved', :seconds, :cost, :now FROM admitted
RETURNING id
"""  # noqa: S608 - composed of constants only
_TYPES = (
    bindparam("tenant", type_=Uuid()),
    bindparam("now", type_=UTCDateTime()),
    bindparam("period", type_=String()),
    bindparam("seconds", type_=BigInteger()),
    bindparam("cost", type_=BigInteger()),
)
_LIMIT_TYPES = tuple(
    bindparam(name, type_=BigInteger()) for name in ("session_limit", "seconds_limit", "cost_limit")
)
_ID_TYPE = bindparam("id", type_=Uuid())
_ADMIT = text(_COUNT_IF_WITHIN_LIMITS).bindparams(*_TYPES, *_LIMIT_TYPES)
_RECORD_ADMITTED = text(_RECORD).bindparams(*_TYPES, _ID_TYPE)
# Public: bench/quota.py measures this very statement on a bare connection too.
ADMIT_AND_RECORD = text(_COUNT_AND_RECORD).bindparams(*_TYPES, *_LIMIT_TYPES, _ID_TYPE)


@dataclass(frozen=True, slots=True)
class LimitValues:
    """Monthly limits in stored units (``None`` = unlimited)."""

    sessions: int | None
    seconds: int | None
    cost_microusd: int | None


@dataclass(frozen=True, slots=True)
class FinishedReservation:
    """What a reservation held when it was settled or released."""

    period: str
    estimated_seconds: int
    estimated_cost_microusd: int


class UsageRepository:
    """Tenant-scoped usage months and reservations."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def _this_month(self, period: str) -> ColumnElement[bool]:
        return and_(UsageMonth.tenant_id == self.tenant_id, UsageMonth.period == period)

    async def ensure_month(self, period: str) -> None:
        """Insert the month's row when missing (a no-op when it exists, even concurrently)."""
        values = {
            "tenant_id": self.tenant_id,
            "period": period,
            "avatar_sessions": 0,
            "avatar_seconds": 0,
            "cost_microusd": 0,
            "reserved_sessions": 0,
            "reserved_seconds": 0,
            "reserved_cost_microusd": 0,
            "updated_at": utcnow(),
        }
        dialect = self.session.sync_session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self.session.execute(insert(UsageMonth).values(values).on_conflict_do_nothing())

    async def try_admit(
        self,
        reservation_id: uuid.UUID,
        *,
        period: str,
        seconds: int,
        cost_microusd: int,
        limits: LimitValues,
    ) -> bool:
        """Count one session and its estimates if they fit, in one conditional UPDATE, and
        record the reservation; whether it was admitted (``False`` also when the month's row
        does not exist yet: see ``ensure_month``)."""
        params = {
            "tenant": self.tenant_id,
            "period": period,
            "seconds": seconds,
            "cost": cost_microusd,
            "session_limit": limits.sessions,
            "seconds_limit": limits.seconds,
            "cost_limit": limits.cost_microusd,
            "now": utcnow(),
            "id": reservation_id,
        }
        if self.session.sync_session.get_bind().dialect.name == "postgresql":
            # One round trip: the UPDATE admits, the INSERT records what it admitted.
            admitted = await self.session.execute(ADMIT_AND_RECORD, params)
            return admitted.first() is not None
        result = await self.session.execute(_ADMIT, params)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        await self.session.execute(_RECORD_ADMITTED, params)
        return True

    async def finish_reservation(
        self,
        reservation_id: uuid.UUID,
        *,
        status: str,
        actual_seconds: int | None = None,
        cost_microusd: int | None = None,
    ) -> FinishedReservation | None:
        """Move a ``reserved`` reservation to ``status`` once; ``None`` if it already moved."""
        result = await self.session.execute(
            update(QuotaReservation)
            .where(
                QuotaReservation.id == reservation_id,
                QuotaReservation.tenant_id == self.tenant_id,
                QuotaReservation.status == "reserved",
            )
            .values(
                status=status,
                actual_seconds=actual_seconds,
                cost_microusd=cost_microusd,
                finished_at=utcnow(),
            )
            .returning(
                QuotaReservation.period,
                QuotaReservation.estimated_seconds,
                QuotaReservation.estimated_cost_microusd,
            )
            .execution_options(synchronize_session=False)
        )
        row = result.one_or_none()
        if row is None:
            return None
        return FinishedReservation(
            period=row[0], estimated_seconds=row[1], estimated_cost_microusd=row[2]
        )

    async def apply_settlement(
        self, held: FinishedReservation, *, actual_seconds: int, cost_microusd: int
    ) -> None:
        """Replace a settled session's estimates by its actual seconds and cost."""
        await self.session.execute(
            update(UsageMonth)
            .where(self._this_month(held.period))
            .values(
                avatar_seconds=UsageMonth.avatar_seconds
                + (actual_seconds - held.estimated_seconds),
                cost_microusd=UsageMonth.cost_microusd
                + (cost_microusd - held.estimated_cost_microusd),
                reserved_sessions=UsageMonth.reserved_sessions - 1,
                reserved_seconds=UsageMonth.reserved_seconds - held.estimated_seconds,
                reserved_cost_microusd=UsageMonth.reserved_cost_microusd
                - held.estimated_cost_microusd,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )

    async def apply_release(self, held: FinishedReservation) -> None:
        """Give back everything a session that never ran had reserved."""
        await self.session.execute(
            update(UsageMonth)
            .where(self._this_month(held.period))
            .values(
                avatar_sessions=UsageMonth.avatar_sessions - 1,
                avatar_seconds=UsageMonth.avatar_seconds - held.estimated_seconds,
                cost_microusd=UsageMonth.cost_microusd - held.estimated_cost_microusd,
                reserved_sessions=UsageMonth.reserved_sessions - 1,
                reserved_seconds=UsageMonth.reserved_seconds - held.estimated_seconds,
                reserved_cost_microusd=UsageMonth.reserved_cost_microusd
                - held.estimated_cost_microusd,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )

    async def month(self, period: str) -> UsageMonth | None:
        """The month's counters as they are now (never a stale copy from this session)."""
        result = await self.session.execute(
            select(UsageMonth)
            .where(self._this_month(period))
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def months(self, *, limit: int) -> Sequence[UsageMonth]:
        """The newest ``limit`` months with any usage, newest first."""
        result = await self.session.execute(
            select(UsageMonth)
            .where(UsageMonth.tenant_id == self.tenant_id)
            .order_by(UsageMonth.period.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return result.scalars().all()

    async def reservation(self, reservation_id: uuid.UUID) -> QuotaReservation | None:
        result = await self.session.execute(
            select(QuotaReservation)
            .where(
                QuotaReservation.id == reservation_id,
                QuotaReservation.tenant_id == self.tenant_id,
            )
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()
