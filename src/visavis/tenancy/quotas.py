"""Monthly quotas: an avatar session is admitted by one atomic, conditional UPDATE.

Never read-then-write: ``reserve`` counts the session and its estimated seconds and cost in a
single ``UPDATE ... WHERE used + wanted <= limit``, so any number of concurrent starts on any
number of instances admit exactly up to the limit. Months are UTC periods (``YYYY-MM``): a new
month is a new row (inserted if missing, ``ON CONFLICT DO NOTHING``, by the month's first
start), so usage rolls over with no job. At avatar stop the actual seconds and
cost are settled; a start that failed releases its reservation. Both are idempotent.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.ids import uuid7
from visavis.db.models import TenantPreferences, UsageMonth
from visavis.db.repositories.usage import LimitValues, UsageRepository
from visavis.errors import InvalidInputError, VisavisError

SESSION_LIMIT = "monthly_avatar_session_limit"
SECONDS_LIMIT = "monthly_avatar_seconds_limit"
COST_LIMIT = "monthly_cost_limit_usd"
_RESERVE_ATTEMPTS = 3


def period_of(moment: datetime) -> str:
    """The UTC month ``moment`` falls in, as ``YYYY-MM``."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def period_resets_at(period: str) -> datetime:
    """The first instant after ``period``: when its limits reset."""
    year, month = (int(part) for part in period.split("-"))
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """A tenant's monthly limits (``None`` = unlimited); money in micro-USD."""

    sessions: int | None = None
    seconds: int | None = None
    cost_microusd: int | None = None

    @classmethod
    def of(cls, prefs: TenantPreferences) -> QuotaLimits:
        return cls(
            sessions=prefs.monthly_avatar_session_limit,
            seconds=prefs.monthly_avatar_seconds_limit,
            cost_microusd=prefs.monthly_cost_limit_microusd,
        )


@dataclass(frozen=True, slots=True)
class Reservation:
    """One admitted avatar session's claim on a month."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    period: str
    estimated_seconds: int
    estimated_cost_microusd: int


class QuotaExceeded(VisavisError):
    """A monthly limit leaves no room: names the limit and when it resets."""

    code = "quota_exceeded"
    http_status = 429

    def __init__(self, *, limit: str, limit_value: int | float, period: str) -> None:
        self.limit = limit
        self.limit_value = limit_value
        self.period = period
        self.resets_at = period_resets_at(period)
        super().__init__(
            f"the {limit} ({limit_value}) is reached for {period}; "
            f"it resets at {_iso(self.resets_at)}"
        )

    @property
    def problem_extra(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "limit_value": self.limit_value,
            "period": self.period,
            "resets_at": _iso(self.resets_at),
        }

    @property
    def problem_headers(self) -> dict[str, str]:
        wait = self.resets_at - datetime.now(UTC)
        return {"Retry-After": str(max(1, math.ceil(wait.total_seconds())))}


def _exceeded_limit(
    month: UsageMonth | None, limits: QuotaLimits, *, seconds: int, cost_microusd: int
) -> tuple[str, int | float] | None:
    sessions_used = month.avatar_sessions if month else 0
    seconds_used = month.avatar_seconds if month else 0
    cost_used = month.cost_microusd if month else 0
    if limits.sessions is not None and sessions_used + 1 > limits.sessions:
        return SESSION_LIMIT, limits.sessions
    if limits.seconds is not None and seconds_used + seconds > limits.seconds:
        return SECONDS_LIMIT, limits.seconds
    if limits.cost_microusd is not None and cost_used + cost_microusd > limits.cost_microusd:
        return COST_LIMIT, limits.cost_microusd / 1_000_000
    return None


async def reserve(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    limits: QuotaLimits,
    estimated_seconds: int,
    estimated_cost_microusd: int = 0,
    reservation_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Reservation:
    """Admit one avatar session this month, or raise ``QuotaExceeded``; the caller commits."""
    if estimated_seconds < 0 or estimated_cost_microusd < 0:
        raise InvalidInputError("estimated seconds and cost cannot be negative")
    period = period_of(now or datetime.now(UTC))
    repo = UsageRepository(session, tenant_id)
    values = LimitValues(limits.sessions, limits.seconds, limits.cost_microusd)
    reservation = Reservation(
        id=reservation_id or uuid7(),
        tenant_id=tenant_id,
        period=period,
        estimated_seconds=estimated_seconds,
        estimated_cost_microusd=estimated_cost_microusd,
    )
    for _ in range(_RESERVE_ATTEMPTS):
        if await repo.try_admit(
            reservation.id,
            period=period,
            seconds=estimated_seconds,
            cost_microusd=estimated_cost_microusd,
            limits=values,
        ):
            return reservation
        # Not admitted: say which limit (the decision above was the atomic one), or make the
        # month's row when this is the month's first session, and try again.
        month = await repo.month(period)
        if month is None:
            await repo.ensure_month(period)
            continue
        exceeded = _exceeded_limit(
            month, limits, seconds=estimated_seconds, cost_microusd=estimated_cost_microusd
        )
        if exceeded is not None:
            raise QuotaExceeded(limit=exceeded[0], limit_value=exceeded[1], period=period)
        # Room was freed between the two statements (a release): try again.
    raise QuotaExceeded(limit=SESSION_LIMIT, limit_value=limits.sessions or 0, period=period)


async def settle(
    session: AsyncSession,
    reservation_id: uuid.UUID,
    *,
    tenant_id: uuid.UUID,
    actual_seconds: float,
    cost_microusd: int,
) -> bool:
    """Record a stopped session's actual seconds and cost; ``False`` if already settled/released.

    Usage lands in the month the session started in. The caller commits.
    """
    if actual_seconds < 0 or cost_microusd < 0:
        raise InvalidInputError("actual seconds and cost cannot be negative")
    seconds = math.ceil(actual_seconds)
    repo = UsageRepository(session, tenant_id)
    held = await repo.finish_reservation(
        reservation_id, status="settled", actual_seconds=seconds, cost_microusd=cost_microusd
    )
    if held is None:
        return False
    await repo.apply_settlement(held, actual_seconds=seconds, cost_microusd=cost_microusd)
    return True


async def release(
    session: AsyncSession, reservation_id: uuid.UUID, *, tenant_id: uuid.UUID
) -> bool:
    """Give back a reservation whose session never ran; ``False`` if already settled/released.

    The caller commits.
    """
    repo = UsageRepository(session, tenant_id)
    held = await repo.finish_reservation(reservation_id, status="released")
    if held is None:
        return False
    await repo.apply_release(held)
    return True
