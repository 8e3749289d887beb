"""API keys of tenants."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import utcnow
from visavis.db.models import ApiKey
from visavis.errors import NotFoundError
from visavis.tenancy.keys import NewApiKey


class ApiKeyRepository:
    """Store, find and revoke API keys (hashes only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, tenant_id: uuid.UUID, key: NewApiKey) -> ApiKey:
        row = ApiKey(tenant_id=tenant_id, prefix=key.prefix, key_hash=key.key_hash)
        self.session.add(row)
        await self.session.flush()
        return row

    async def find_active(self, prefix: str) -> ApiKey | None:
        """The unrevoked key with this prefix, if any."""
        result = await self.session.execute(
            select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        )
        return result.scalar_one_or_none()

    async def list_for_tenant(self, tenant_id: uuid.UUID) -> Sequence[ApiKey]:
        result = await self.session.execute(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
        )
        return result.scalars().all()

    async def revoke(self, prefix: str) -> ApiKey:
        """Revoke the key with this prefix; revoking twice is harmless."""
        result = await self.session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
        row = result.scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no API key with prefix {prefix!r}")
        if row.revoked_at is None:
            await self.session.execute(
                update(ApiKey)
                .where(ApiKey.id == row.id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            await self.session.refresh(row)
        return row
