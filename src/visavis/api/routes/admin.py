"""``/v1/admin``: the operator's API for feature flags and tenants' preferences and usage.

Enabled only when ``VISAVIS_ADMIN_API_KEY`` is set (otherwise every path here is a 404), and
authenticated with ``Authorization: Bearer <admin key>``, compared in constant time. An
``X-Visavis-Actor`` header names who makes a change in the flag change record.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from visavis.api.deps import ContextDep, SessionDep, client_address
from visavis.api.problems import HTTPProblem
from visavis.api.schemas import PreferencesPublic, PreferencesUpdate
from visavis.api.tenancy_schemas import (
    FlagAdminPublic,
    FlagChangePublic,
    FlagChangesPublic,
    FlagListPublic,
    FlagTenantPublic,
    FlagTenantUpdate,
    FlagUpdate,
    TenantAdminPublic,
    TenantListPublic,
    UsagePublic,
)
from visavis.db.repositories.flags import FlagRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.tenancy import flags as feature_flags
from visavis.tenancy.preferences import update_preferences
from visavis.tenancy.usage import usage_report

_ACTOR = re.compile(r"[^A-Za-z0-9@._:+\- ]")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


async def require_admin(request: Request, ctx: ContextDep) -> str:
    """The acting admin's name, once the admin key is verified."""
    configured = ctx.settings.admin_api_key
    if configured is None:
        raise HTTPProblem(404, "no such endpoint: see /docs for the API")
    backoff, address = ctx.auth_backoff, client_address(request)
    if backoff is not None:
        await backoff.check(address)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        if backoff is not None:
            await backoff.failed(address)
        raise HTTPProblem(
            401,
            "the admin API needs 'Authorization: Bearer <VISAVIS_ADMIN_API_KEY>'",
            code="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="visavis-admin"'},
        )
    # Digests first: equal lengths, so the comparison time says nothing about the key.
    if not hmac.compare_digest(_digest(token.strip()), _digest(configured.get_secret_value())):
        if backoff is not None:
            await backoff.failed(address)
        raise HTTPProblem(
            401,
            "invalid admin key",
            code="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="visavis-admin"'},
        )
    actor = _ACTOR.sub("", request.headers.get("x-visavis-actor", "")).strip()[:80]
    return f"admin-api:{actor}" if actor else "admin-api"


AdminDep = Annotated[str, Depends(require_admin)]
router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


async def _flag_view(session: SessionDep, name: str) -> FlagAdminPublic:
    snapshot = await feature_flags.load_snapshot(session)
    names = {t.id: t.name for t in await TenantRepository(session).list()}
    tenants = [
        FlagTenantPublic.model_validate(
            {
                "tenant": names.get(row.tenant_id, "?"),
                "tenant_id": row.tenant_id,
                "state": row.state,
            }
        )
        for row in await FlagRepository(session).tenant_states(name)
    ]
    return FlagAdminPublic.of(
        snapshot.settings(name), description=feature_flags.KNOWN_FLAGS[name], tenants=tenants
    )


@router.get("/flags", response_model=FlagListPublic)
async def list_flags(session: SessionDep) -> FlagListPublic:
    """Every flag this server knows, with its settings and tenant states."""
    return FlagListPublic(
        items=[await _flag_view(session, name) for name in sorted(feature_flags.KNOWN_FLAGS)]
    )


@router.get("/flags/{name}", response_model=FlagAdminPublic)
async def get_flag(name: str, session: SessionDep) -> FlagAdminPublic:
    return await _flag_view(session, feature_flags.require_known(name))


@router.patch("/flags/{name}", response_model=FlagAdminPublic)
async def update_flag(
    name: str, body: FlagUpdate, actor: AdminDep, ctx: ContextDep, session: SessionDep
) -> FlagAdminPublic:
    """Set the global switch, rollout percentage or kill switch; every instance follows within
    ``VISAVIS_FLAGS_CACHE_TTL_S`` seconds."""
    await feature_flags.update_flag(
        session,
        feature_flags.require_known(name),
        actor=actor,
        enabled=body.enabled,
        rollout_percent=body.rollout_percent,
        kill_switch=body.kill_switch,
    )
    await session.commit()
    if ctx.flags is not None:
        ctx.flags.invalidate()
    return await _flag_view(session, name)


@router.put("/flags/{name}/tenants/{tenant}", response_model=FlagAdminPublic)
async def set_flag_tenant(
    name: str,
    tenant: str,
    body: FlagTenantUpdate,
    actor: AdminDep,
    ctx: ContextDep,
    session: SessionDep,
) -> FlagAdminPublic:
    """Put a tenant (by name) ``on`` or ``off`` (override), or in ``beta``."""
    row = await TenantRepository(session).get_by_name(tenant)
    await feature_flags.set_tenant_state(
        session, feature_flags.require_known(name), row.id, body.state, actor=actor
    )
    await session.commit()
    if ctx.flags is not None:
        ctx.flags.invalidate()
    return await _flag_view(session, name)


@router.delete("/flags/{name}/tenants/{tenant}", status_code=status.HTTP_204_NO_CONTENT)
async def clear_flag_tenant(
    name: str, tenant: str, actor: AdminDep, ctx: ContextDep, session: SessionDep
) -> Response:
    """Remove a tenant's override or beta membership (idempotent)."""
    row = await TenantRepository(session).get_by_name(tenant)
    await feature_flags.set_tenant_state(
        session, feature_flags.require_known(name), row.id, None, actor=actor
    )
    await session.commit()
    if ctx.flags is not None:
        ctx.flags.invalidate()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/flags/{name}/changes", response_model=FlagChangesPublic)
async def flag_changes(
    name: str,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> FlagChangesPublic:
    """Who changed the flag, what, and when; newest first."""
    rows = await FlagRepository(session).changes(feature_flags.require_known(name), limit=limit)
    return FlagChangesPublic(items=[FlagChangePublic.of(r) for r in rows])


@router.get("/tenants", response_model=TenantListPublic)
async def list_tenants(session: SessionDep) -> TenantListPublic:
    rows = await TenantRepository(session).list()
    return TenantListPublic(
        items=[TenantAdminPublic(id=t.id, name=t.name, created_at=t.created_at) for t in rows]
    )


@router.get("/tenants/{tenant}/preferences", response_model=PreferencesPublic)
async def get_tenant_preferences(tenant: str, session: SessionDep) -> PreferencesPublic:
    row = await TenantRepository(session).get_by_name(tenant)
    prefs = await TenantRepository(session).preferences(row.id)
    await session.commit()
    return PreferencesPublic.of(prefs)


@router.put("/tenants/{tenant}/preferences", response_model=PreferencesPublic)
async def put_tenant_preferences(
    tenant: str, body: PreferencesUpdate, session: SessionDep
) -> PreferencesPublic:
    """Set a tenant's defaults and monthly limits: fields given are set, ``null`` = no limit."""
    row = await TenantRepository(session).get_by_name(tenant)
    prefs = await update_preferences(session, row.id, body.model_dump(exclude_unset=True))
    await session.commit()
    return PreferencesPublic.of(prefs)


@router.get("/tenants/{tenant}/usage", response_model=UsagePublic)
async def get_tenant_usage(
    tenant: str,
    session: SessionDep,
    months: Annotated[int, Query(ge=0, le=120)] = 12,
) -> UsagePublic:
    row = await TenantRepository(session).get_by_name(tenant)
    report = await usage_report(session, row.id, months=months)
    await session.commit()
    return UsagePublic.of(report)
