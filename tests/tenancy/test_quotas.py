"""Quota reservation: admits up to each monthly limit, names the limit, settles and releases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TenantFactory
from visavis.api import problems
from visavis.context import AppContext
from visavis.db.repositories.usage import UsageRepository
from visavis.tenancy import quotas
from visavis.tenancy.quotas import QuotaExceeded, QuotaLimits


async def _tenant(make_tenant: TenantFactory, name: str = "acme") -> uuid.UUID:
    return uuid.UUID((await make_tenant(name)).tenant_id)


async def _reserve(ctx: AppContext, tenant_id: uuid.UUID, **kwargs: object) -> quotas.Reservation:
    async with ctx.sessions() as session:
        reservation = await quotas.reserve(session, tenant_id=tenant_id, **kwargs)  # type: ignore[arg-type]
        await session.commit()
        return reservation


async def _month(ctx: AppContext, tenant_id: uuid.UUID, period: str) -> dict[str, int]:
    async with ctx.sessions() as session:
        row = await UsageRepository(session, tenant_id).month(period)
        assert row is not None
        return {
            "sessions": row.avatar_sessions,
            "seconds": row.avatar_seconds,
            "cost": row.cost_microusd,
            "in_flight": row.reserved_sessions,
        }


def test_periods_are_utc_months_that_roll_over_at_midnight() -> None:
    assert quotas.period_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12"
    assert quotas.period_resets_at("2026-12") == datetime(2027, 1, 1, tzinfo=UTC)
    assert quotas.period_resets_at("2026-01") == datetime(2026, 2, 1, tzinfo=UTC)


async def test_session_limit_admits_exactly_the_limit_and_says_when_it_resets(
    ctx: AppContext, make_tenant: TenantFactory
) -> None:
    tenant_id = await _tenant(make_tenant)
    limits = QuotaLimits(sessions=3)
    now = datetime(2026, 3, 10, tzinfo=UTC)
    for _ in range(3):
        await _reserve(ctx, tenant_id, limits=limits, estimated_seconds=60, now=now)
    with pytest.raises(QuotaExceeded) as refused:
        await _reserve(ctx, tenant_id, limits=limits, estimated_seconds=60, now=now)
    assert refused.value.limit == "monthly_avatar_session_limit"
    assert refused.value.resets_at == datetime(2026, 4, 1, tzinfo=UTC)
    assert "2026-04-01T00:00:00Z" in refused.value.message
    assert await _month(ctx, tenant_id, "2026-03") == {
        "sessions": 3,
        "seconds": 180,
        "cost": 0,
        "in_flight": 3,
    }
    # A new month is a new row: no job, the limit is fresh.
    await _reserve(
        ctx, tenant_id, limits=limits, estimated_seconds=60, now=datetime(2026, 4, 1, tzinfo=UTC)
    )


async def test_seconds_and_cost_limits_count_the_estimates(
    ctx: AppContext, make_tenant: TenantFactory
) -> None:
    tenant_id = await _tenant(make_tenant)
    seconds_limit = QuotaLimits(seconds=500)
    await _reserve(ctx, tenant_id, limits=seconds_limit, estimated_seconds=300)
    with pytest.raises(QuotaExceeded) as by_seconds:
        await _reserve(ctx, tenant_id, limits=seconds_limit, estimated_seconds=300)
    assert by_seconds.value.limit == "monthly_avatar_seconds_limit"

    other = await _tenant(make_tenant, "other")
    cost_limit = QuotaLimits(cost_microusd=1_500_000)
    await _reserve(
        ctx, other, limits=cost_limit, estimated_seconds=300, estimated_cost_microusd=1_000_000
    )
    with pytest.raises(QuotaExceeded) as by_cost:
        await _reserve(
            ctx, other, limits=cost_limit, estimated_seconds=300, estimated_cost_microusd=1_000_000
        )
    assert by_cost.value.limit == "monthly_cost_limit_usd"
    assert by_cost.value.limit_value == 1.5


async def test_settle_replaces_estimates_with_actuals_once(
    ctx: AppContext, make_tenant: TenantFactory
) -> None:
    tenant_id = await _tenant(make_tenant)
    now = datetime.now(UTC)
    period = quotas.period_of(now)
    reservation = await _reserve(
        ctx,
        tenant_id,
        limits=QuotaLimits(),
        estimated_seconds=300,
        estimated_cost_microusd=1_000_000,
    )
    async with ctx.sessions() as session:
        settled = await quotas.settle(
            session, reservation.id, tenant_id=tenant_id, actual_seconds=42.2, cost_microusd=140_000
        )
        again = await quotas.settle(
            session, reservation.id, tenant_id=tenant_id, actual_seconds=99, cost_microusd=9
        )
        released = await quotas.release(session, reservation.id, tenant_id=tenant_id)
        await session.commit()
    assert (settled, again, released) == (True, False, False)
    assert await _month(ctx, tenant_id, period) == {
        "sessions": 1,
        "seconds": 43,
        "cost": 140_000,
        "in_flight": 0,
    }


async def test_release_gives_the_session_back(ctx: AppContext, make_tenant: TenantFactory) -> None:
    tenant_id = await _tenant(make_tenant)
    limits = QuotaLimits(sessions=1)
    reservation = await _reserve(ctx, tenant_id, limits=limits, estimated_seconds=300)
    async with ctx.sessions() as session:
        assert await quotas.release(session, reservation.id, tenant_id=tenant_id)
        assert not await quotas.release(session, reservation.id, tenant_id=tenant_id)
        await session.commit()
    # The freed session can be had again; usage is back to nothing.
    await _reserve(ctx, tenant_id, limits=limits, estimated_seconds=300)
    assert (await _month(ctx, tenant_id, quotas.period_of(datetime.now(UTC))))["sessions"] == 1


async def test_another_tenant_cannot_settle_or_release_a_reservation(
    ctx: AppContext, make_tenant: TenantFactory
) -> None:
    owner = await _tenant(make_tenant)
    intruder = await _tenant(make_tenant, "intruder")
    reservation = await _reserve(ctx, owner, limits=QuotaLimits(), estimated_seconds=10)
    async with ctx.sessions() as session:
        assert not await quotas.release(session, reservation.id, tenant_id=intruder)
        assert not await quotas.settle(
            session, reservation.id, tenant_id=intruder, actual_seconds=1, cost_microusd=1
        )
        await session.commit()
    assert (await _month(ctx, owner, reservation.period))["in_flight"] == 1


async def test_refused_outright_is_a_problem_naming_the_limit_and_reset(
    ctx: AppContext, make_tenant: TenantFactory
) -> None:
    """Where a request must have its avatar, the refusal is a 429 problem with Retry-After."""
    tenant_id = await _tenant(make_tenant)
    strict = FastAPI()
    problems.install(strict)

    @strict.post("/avatar-now")
    async def avatar_now() -> dict[str, str]:
        reservation = await _reserve(
            ctx, tenant_id, limits=QuotaLimits(sessions=0), estimated_seconds=60
        )
        return {"id": str(reservation.id)}

    transport = httpx.ASGITransport(app=strict)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.post("/avatar-now")
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["code"] == "quota_exceeded"
    assert body["limit"] == "monthly_avatar_session_limit"
    assert body["resets_at"] == quotas.period_resets_at(body["period"]).isoformat().replace(
        "+00:00", "Z"
    )
