"""Whether a new conversation gets the avatar it asks for: feature flag first, then quota.

Every avatar session counts, the local avatar included (it costs nothing but is a session).
A refusal is never an error here: the conversation runs audio-only and says why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.avatars.names import canonical
from visavis.config import Settings
from visavis.db.models import Conversation, TenantPreferences
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.repositories.usage import UsageRepository
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
    provider = canonical(provider)
    if provider == "akool":
        seconds = settings.akool_session_duration_s
        price_per_minute = settings.akool_price_per_minute_usd
    elif provider == "liveavatar":
        seconds = settings.quota_session_estimate_s
        credits_per_minute = 2 if settings.liveavatar_mode == "FULL" else 1
        price_per_minute = credits_per_minute * settings.liveavatar_price_per_credit_usd
    elif provider == "simli":
        seconds = settings.quota_session_estimate_s
        price_per_minute = settings.simli_price_per_minute_usd
    elif provider == "tavus":
        seconds = settings.quota_session_estimate_s
        price_per_minute = settings.tavus_price_per_minute_usd
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


async def readmit_avatar(
    session: AsyncSession,
    *,
    settings: Settings,
    conversation: Conversation,
    flags: FlagCache | None,
) -> AvatarAdmission:
    """Admit a live conversation's avatar again (switched back on), unless its quota is held.

    A reservation still held is reused; otherwise the flag and quota are checked afresh and the
    new reservation is recorded on the conversation. The caller commits.
    """
    tenant_id = conversation.tenant_id
    if conversation.quota_reservation_id is not None:
        held = await UsageRepository(session, tenant_id).reservation(
            conversation.quota_reservation_id
        )
        if held is not None and held.status == "reserved":
            return AvatarAdmission(True)
    prefs = await TenantRepository(session).preferences(tenant_id)
    admission = await admit_avatar(
        session,
        settings=settings,
        tenant_id=tenant_id,
        provider=conversation.avatar_provider or "local",
        prefs=prefs,
        flags=flags,
    )
    if admission.enabled and admission.reservation is not None:
        conversation.quota_reservation_id = admission.reservation.id
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation.id)
            .values(quota_reservation_id=admission.reservation.id)
        )
    return admission
