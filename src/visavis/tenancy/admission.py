"""Whether a new conversation gets the avatar it asks for: feature flag first, then quota.

Every avatar session counts, the local avatar included (it costs nothing but is a session).
A refusal is never an error here: the conversation runs audio-only and says why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.config import Settings
from visavis.db.models import TenantPreferences
from visavis.ops.events import record_event
from visavis.ops.metrics import Metrics
from visavis.tenancy import quotas
from visavis.tenancy.flags import AVATAR, FlagCache, load_snapshot


@dataclass(frozen=True, slots=True)
class AvatarAdmission:
    """The avatar is admitted with a quota reservation, or refused with a reason and detail."""

    enabled: bool
    reason: str | None = None
    detail: str | None = None
    reservation: quotas.Reservation | None = None


def estimated_usage(settings: Settings, provider: str) -> tuple[int, int]:
    """Seconds and micro-USD to reserve for one session of ``provider`` until it is settled.

    Akool sessions are asked (and paid) for a fixed duration; others get the configured estimate.
    """
    if provider == "akool":
        seconds = settings.akool_session_duration_s
        price_per_minute = settings.akool_price_per_minute_usd
    elif provider == "heygen":
        seconds = settings.quota_session_estimate_s
        price_per_minute = settings.heygen_price_per_minute_usd
    else:
        seconds = settings.quota_session_estimate_s
        price_per_minute = 0.0
    return seconds, round(price_per_minute * 1_000_000 * seconds / 60)


async def admit_avatar(
    session: AsyncSession,
    *,
    settings: Settings,
    tenant_id: uuid.UUID,
    provider: str,
    prefs: TenantPreferences,
    flags: FlagCache | None,
    reservation_id: uuid.UUID | None = None,
    metrics: Metrics | None = None,
) -> AvatarAdmission:
    """Check the avatar flag for the tenant, then reserve quota atomically; caller commits.

    A refusal by a monthly limit is counted in ``metrics`` by the limit's name, and stored as
    a ``quota_refused`` analytics event (committed with the caller's transaction).
    """
    snapshot = await flags.snapshot() if flags is not None else await load_snapshot(session)
    decision = snapshot.evaluate(AVATAR, tenant_id)
    if not decision.enabled:
        detail = f"{decision.detail}; the conversation runs audio-only"
        return AvatarAdmission(False, decision.reason, detail)
    seconds, cost = estimated_usage(settings, provider)
    try:
        reservation = await quotas.reserve(
            session,
            tenant_id=tenant_id,
            limits=quotas.QuotaLimits.of(prefs),
            estimated_seconds=seconds,
            estimated_cost_microusd=cost,
            reservation_id=reservation_id,
        )
    except quotas.QuotaExceeded as exceeded:
        await record_event(
            session,
            tenant_id=tenant_id,
            type="quota_refused",
            data={"limit": exceeded.limit, "period": exceeded.period, "provider": provider},
        )
        if metrics is not None:
            metrics.quota_refused(kind=exceeded.limit)
            metrics.event_recorded(type="quota_refused")
        return AvatarAdmission(False, exceeded.code, f"{exceeded.message}; audio-only until then")
    return AvatarAdmission(True, reservation=reservation)
