"""Twins of a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import Twin
from visavis.errors import NotFoundError


class TwinRepository:
    """Tenant-scoped twins; another tenant's twin is never found."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def add(self, twin: Twin) -> Twin:
        twin.tenant_id = self.tenant_id
        self.session.add(twin)
        await self.session.flush()
        return twin

    async def find(self, twin_id: uuid.UUID) -> Twin | None:
        result = await self.session.execute(
            select(Twin).where(Twin.id == twin_id, Twin.tenant_id == self.tenant_id)
        )
        return result.scalar_one_or_none()

    async def get(self, twin_id: uuid.UUID) -> Twin:
        row = await self.find(twin_id)
        if row is None:
            raise NotFoundError("twin not found")
        return row

    async def find_by_name(self, name: str) -> Twin | None:
        result = await self.session.execute(
            select(Twin)
            .where(Twin.tenant_id == self.tenant_id, Twin.name == name)
            .order_by(Twin.id)
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def list(self) -> Sequence[Twin]:
        result = await self.session.execute(
            select(Twin).where(Twin.tenant_id == self.tenant_id).order_by(Twin.id)
        )
        return result.scalars().all()

    async def delete(self, twin_id: uuid.UUID) -> None:
        twin = await self.get(twin_id)
        await self.session.delete(twin)
        await self.session.flush()

    async def memory_version(self, twin_id: uuid.UUID) -> int:
        """The twin's memory version; raises ``NotFoundError`` for another tenant's twin."""
        result = await self.session.execute(
            select(Twin.memory_version).where(Twin.id == twin_id, Twin.tenant_id == self.tenant_id)
        )
        version = result.scalar_one_or_none()
        if version is None:
            raise NotFoundError("twin not found")
        return int(version)

    async def bump_memory_version(self, twin_id: uuid.UUID) -> None:
        """Mark the memory changed (atomic, so concurrent writers never lose a bump)."""
        await self.session.execute(
            update(Twin)
            .where(Twin.id == twin_id, Twin.tenant_id == self.tenant_id)
            .values(memory_version=Twin.memory_version + 1)
        )
