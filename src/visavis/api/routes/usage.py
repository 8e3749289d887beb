"""``/v1/tenant/usage``: the calling tenant's avatar usage this UTC month and before, and per
day."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from visavis.api.console_schemas import DailySeriesPublic, OwnDailyUsagePublic
from visavis.api.deps import PrincipalDep, SessionDep
from visavis.api.tenancy_schemas import UsagePublic
from visavis.tenancy.daily_usage import MAX_DAYS, daily_usage
from visavis.tenancy.usage import usage_report

router = APIRouter(prefix="/v1/tenant", tags=["tenant"])


@router.get("/usage", response_model=UsagePublic)
async def get_usage(
    principal: PrincipalDep,
    session: SessionDep,
    months: Annotated[int, Query(ge=0, le=120, description="How many past months")] = 12,
) -> UsagePublic:
    """Sessions, seconds and cost this UTC month against the limits, and earlier months."""
    report = await usage_report(session, principal.tenant_id, months=months)
    await session.commit()  # the preferences row may have been created
    return UsagePublic.of(report)


@router.get("/usage/daily", response_model=OwnDailyUsagePublic)
async def get_daily_usage(
    principal: PrincipalDep,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="How many UTC days")] = 30,
) -> OwnDailyUsagePublic:
    """Conversations, avatar sessions, their seconds and cost per UTC day, up to today."""
    mine = principal.tenant_id
    report = await daily_usage(session, [mine], days=days, scope=mine)
    return OwnDailyUsagePublic(
        days=report.days, **DailySeriesPublic.of(report.series[mine]).model_dump()
    )
