"""Annotated dependencies shared by the routes: settings, database session, tenant."""

from __future__ import annotations

import logging
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
from visavis.db.outage import is_database_outage
from visavis.db.repositories.api_keys import ApiKeyRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.tenancy.keys import key_matches, key_prefix, looks_like_key

logger = logging.getLogger(__name__)


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_settings(ctx: Annotated[AppContext, Depends(get_context)]) -> Settings:
    return ctx.settings


async def get_session(
    ctx: Annotated[AppContext, Depends(get_context)],
) -> AsyncIterator[AsyncSession]:
    session = ctx.sessions()
    try:
        yield session
    finally:
        try:
            await session.close()
        except Exception as error:  # the answer is out; a connection lost now changes nothing
            if not is_database_outage(error):
                raise
            logger.warning("database connection lost while releasing it: %s", error)


ContextDep = Annotated[AppContext, Depends(get_context)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant, through one of its API keys."""

    tenant_id: uuid.UUID
    tenant_name: str
    key_prefix: str
    key_id: uuid.UUID


def _unauthorized(detail: str) -> HTTPProblem:
    return HTTPProblem(
        401, detail, code="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="visavis"'}
    )


def client_address(request: Request) -> str:
    """The caller's address (behind a trusted proxy, the one it forwarded)."""
    return request.client.host if request.client else "unknown"


async def _failed(ctx: AppContext, request: Request, detail: str) -> HTTPProblem:
    if ctx.auth_backoff is not None:
        await ctx.auth_backoff.failed(client_address(request))
    return _unauthorized(detail)


async def get_principal(request: Request, session: SessionDep) -> Principal:
    ctx = get_context(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <api key>'")
    if ctx.auth_backoff is not None:
        # Before the key is looked at: a refused guess must reveal nothing.
        await ctx.auth_backoff.check(client_address(request))
    if scheme.lower() != "bearer" or not token.strip():
        raise await _failed(ctx, request, "malformed Authorization header: use 'Bearer <api key>'")
    token = token.strip()
    if not looks_like_key(token):
        raise await _failed(ctx, request, "invalid API key")
    row = await ApiKeyRepository(session).find_active(key_prefix(token))
    if row is None or not key_matches(token, row.key_hash):
        raise await _failed(ctx, request, "invalid or revoked API key")
    tenant = await TenantRepository(session).get(row.tenant_id)
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
    return Principal(
        tenant_id=tenant.id, tenant_name=tenant.name, key_prefix=row.prefix, key_id=row.id
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]
