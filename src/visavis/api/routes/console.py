"""The admin console's endpoints under ``/v1/admin``: usage per day, API keys, what is live.

Behind the admin key like the rest of ``/v1/admin`` (see ``admin.py``); every read here spans
all tenants.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from visavis.api.console_schemas import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyPublic,
    DailySeriesPublic,
    DailyUsagePublic,
    DeliveryOverview,
    DeliveryOverviewList,
    FallbackList,
    FallbackPublic,
    LiveConversationList,
    LiveConversationPublic,
    TenantDailyPublic,
)
from visavis.api.deps import SessionDep
from visavis.api.problems import HTTPProblem
from visavis.api.routes.admin import AdminDep, require_admin
from visavis.db.repositories.api_keys import ApiKeyRepository
from visavis.db.repositories.operations import OperationsRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.tenancy.daily_usage import MAX_DAYS, daily_usage
from visavis.tenancy.keys import generate_key

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="How many UTC days, up to today")]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/usage/daily", response_model=DailyUsagePublic)
async def tenants_daily_usage(
    session: SessionDep,
    days: Days = 30,
    tenant: Annotated[str | None, Query(max_length=100, description="only this tenant")] = None,
) -> DailyUsagePublic:
    """Every tenant's (or one tenant's) conversations, avatar seconds and cost per UTC day."""
    repo = TenantRepository(session)
    tenants = [await repo.get_by_name(tenant)] if tenant is not None else list(await repo.list())
    report = await daily_usage(session, [t.id for t in tenants], days=days)
    return DailyUsagePublic(
        days=report.days,
        tenants=[
            TenantDailyPublic(
                tenant=t.name,
                tenant_id=t.id,
                **DailySeriesPublic.of(report.series[t.id]).model_dump(),
            )
            for t in tenants
        ],
    )


@router.get("/tenants/{tenant}/keys", response_model=ApiKeyList)
async def list_keys(tenant: str, session: SessionDep) -> ApiKeyList:
    """The tenant's API keys (prefixes only; the keys themselves are never stored)."""
    row = await TenantRepository(session).get_by_name(tenant)
    keys = await ApiKeyRepository(session).list_for_tenant(row.id)
    return ApiKeyList(items=[ApiKeyPublic.of(k) for k in keys])


@router.post(
    "/tenants/{tenant}/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated
)
async def create_key(tenant: str, actor: AdminDep, session: SessionDep) -> ApiKeyCreated:
    """A new API key for the tenant; the answer holds the key, once."""
    row = await TenantRepository(session).get_by_name(tenant)
    key = generate_key()
    stored = await ApiKeyRepository(session).add(tenant_id=row.id, key=key)
    await session.commit()
    logger.info("API key %s created for tenant %s by %s", stored.prefix, row.name, actor)
    return ApiKeyCreated(**ApiKeyPublic.of(stored).model_dump(), key=key.plaintext)


@router.delete("/tenants/{tenant}/keys/{prefix}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(tenant: str, prefix: str, actor: AdminDep, session: SessionDep) -> Response:
    """Revoke one of the tenant's keys at once (idempotent)."""
    row = await TenantRepository(session).get_by_name(tenant)
    keys = ApiKeyRepository(session)
    if prefix not in {k.prefix for k in await keys.list_for_tenant(row.id)}:
        raise HTTPProblem(
            404, f"tenant {tenant!r} has no API key with prefix {prefix!r}", code="not_found"
        )
    await keys.revoke(prefix)
    await session.commit()
    logger.info("API key %s of tenant %s revoked by %s", prefix, row.name, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/conversations/live", response_model=LiveConversationList)
async def live_conversations(session: SessionDep, limit: Limit = 100) -> LiveConversationList:
    """Active conversations across tenants and instances, newest first."""
    rows = await OperationsRepository(session).live_conversations(limit=limit)
    return LiveConversationList(items=[LiveConversationPublic.of(r) for r in rows])


@router.get("/fallbacks", response_model=FallbackList)
async def recent_fallbacks(session: SessionDep, limit: Limit = 50) -> FallbackList:
    """The latest avatars that gave way to the local voice, with provider and reason."""
    rows = await OperationsRepository(session).recent_fallbacks(limit=limit)
    return FallbackList(items=[FallbackPublic.of(r) for r in rows])


@router.get("/webhooks/deliveries", response_model=DeliveryOverviewList)
async def recent_deliveries(
    session: SessionDep,
    status: Literal["pending", "delivered", "failed", "cancelled"] | None = None,
    limit: Limit = 50,
) -> DeliveryOverviewList:
    """The latest webhook deliveries of every tenant, newest first."""
    rows = await OperationsRepository(session).recent_deliveries(status=status, limit=limit)
    return DeliveryOverviewList(items=[DeliveryOverview.of(r) for r in rows])
