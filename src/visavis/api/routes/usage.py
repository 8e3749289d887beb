"""``/v1/tenant/usage``: the calling tenant's avatar usage this UTC month and before."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from visavis.api.deps import PrincipalDep, SessionDep
from visavis.api.tenancy_schemas import UsagePublic
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
