"""Tenants and their preferences."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import Tenant, TenantPreferences
from visavis.errors import ConflictError, NotFoundError


class TenantRepository:
    """Create, find and list tenants; read and update their preferences."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, name: str) -> Tenant:
        """A new tenant with default preferences; ``ConflictError`` when the name is taken."""
        tenant = Tenant(name=name)
        self.session.add(tenant)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            await self.session.rollback()
            raise ConflictError(f"a tenant named {name!r} already exists") from exc
        self.session.add(TenantPreferences(tenant_id=tenant.id))
        await self.session.flush()
        return tenant

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        tenant = await self.session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFoundError("tenant not found")
        return tenant

    async def find_by_name(self, name: str) -> Tenant | None:
        result = await self.session.execute(select(Tenant).where(Tenant.name == name))
        return result.scalar_one_or_none()

    async def get_by_name(self, name: str) -> Tenant:
        tenant = await self.find_by_name(name)
        if tenant is None:
            raise NotFoundError(f"no tenant named {name!r} (see: visavis tenants list)")
        return tenant

    async def list(self) -> Sequence[Tenant]:
        result = await self.session.execute(select(Tenant).order_by(Tenant.created_at, Tenant.id))
        return result.scalars().all()

    async def count(self) -> int:
        return len(await self.list())

    async def preferences(self, tenant_id: uuid.UUID) -> TenantPreferences:
        prefs = await self.session.get(TenantPreferences, tenant_id)
        if prefs is None:
            prefs = TenantPreferences(tenant_id=tenant_id)
            self.session.add(prefs)
            await self.session.flush()
        return prefs

    async def update_preferences(
        self, tenant_id: uuid.UUID, changes: dict[str, Any]
    ) -> TenantPreferences:
        prefs = await self.preferences(tenant_id)
        for name, value in changes.items():
            setattr(prefs, name, value)
        await self.session.flush()
        return prefs
