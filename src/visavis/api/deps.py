"""Annotated dependencies shared by the routes: settings, database session, tenant."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.api.problems import HTTPProblem
from visavis.api.rate_limits import enforce_rate_limits
from visavis.config import Settings
from visavis.context import AppContext
from visavis.db.repositories.api_keys import ApiKeyRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.tenancy.keys import key_matches, key_prefix, looks_like_key


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_settings(ctx: Annotated[AppContext, Depends(get_context)]) -> Settings:
    return ctx.settings


async def get_session(
    ctx: Annotated[AppContext, Depends(get_context)],
) -> AsyncIterator[AsyncSession]:
    async with ctx.sessions() as session:
        yield session


ContextDep = Annotated[AppContext, Depends(get_context)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant, through one of its API keys."""

    tenant_id: uuid.UUID
    tenant_name: str
    key_prefix: str


def _unauthorized(detail: str) -> HTTPProblem:
    return HTTPProblem(
        401, detail, code="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="visavis"'}
    )


async def get_principal(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <api key>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("malformed Authorization header: use 'Bearer <api key>'")
    token = token.strip()
    if not looks_like_key(token):
        raise _unauthorized("invalid API key")
    row = await ApiKeyRepository(session).find_active(key_prefix(token))
    if row is None or not key_matches(token, row.key_hash):
        raise _unauthorized("invalid or revoked API key")
    tenant = await TenantRepository(session).get(row.tenant_id)
    ctx = get_context(request)
    if ctx.rate_limiter is not None:
        await enforce_rate_limits(
            ctx.rate_limiter,
            ctx.settings,
            tenant_id=tenant.id,
            key_prefix=row.prefix,
            metrics=ctx.metrics,
        )
    # From here on, every transaction of this request's session sees only this tenant's rows
    # (PostgreSQL row-level security), whatever the queries forget.
    await scope_to_tenant(session, tenant.id, switch_role=ctx.settings.database_rls)
    return Principal(tenant_id=tenant.id, tenant_name=tenant.name, key_prefix=row.prefix)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
