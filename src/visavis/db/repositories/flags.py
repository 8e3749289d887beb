"""Feature flags, per-tenant states and their change record (administrative, not tenant-scoped)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import utcnow
from visavis.db.models import FeatureFlag, FeatureFlagChange, FeatureFlagTenant

FLAG_FIELDS = ("enabled", "rollout_percent", "kill_switch")


class FlagRepository:
    """Read every flag; change one, recording who changed what."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all_flags(self) -> Sequence[FeatureFlag]:
        result = await self.session.execute(
            select(FeatureFlag).execution_options(populate_existing=True)
        )
        return result.scalars().all()

    async def all_tenant_states(self) -> Sequence[FeatureFlagTenant]:
        result = await self.session.execute(
            select(FeatureFlagTenant).execution_options(populate_existing=True)
        )
        return result.scalars().all()

    async def tenant_states(self, name: str) -> Sequence[FeatureFlagTenant]:
        result = await self.session.execute(
            select(FeatureFlagTenant)
            .where(FeatureFlagTenant.flag_name == name)
            .order_by(FeatureFlagTenant.updated_at)
        )
        return result.scalars().all()

    async def _flag_for_update(self, name: str, defaults: dict[str, Any]) -> FeatureFlag:
        """The flag's row, created with ``defaults`` when missing, locked until commit."""
        dialect = self.session.sync_session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self.session.execute(
            insert(FeatureFlag)
            .values(name=name, updated_at=utcnow(), **defaults)
            .on_conflict_do_nothing()
        )
        query = (
            select(FeatureFlag)
            .where(FeatureFlag.name == name)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(query)).scalar_one()

    async def update_flag(
        self, name: str, changes: dict[str, Any], *, defaults: dict[str, Any], actor: str
    ) -> FeatureFlag:
        """Apply ``changes`` (of ``FLAG_FIELDS``) and record the ones that changed anything."""
        flag = await self._flag_for_update(name, defaults)
        diff = {
            field: [getattr(flag, field), value]
            for field, value in changes.items()
            if field in FLAG_FIELDS and getattr(flag, field) != value
        }
        for field, (_old, new) in diff.items():
            setattr(flag, field, new)
        if diff:
            flag.updated_at = utcnow()
            flag.updated_by = actor
            self.session.add(FeatureFlagChange(flag_name=name, actor=actor, change=diff))
        await self.session.flush()
        return flag

    async def set_tenant_state(
        self,
        name: str,
        tenant_id: uuid.UUID,
        state: str | None,
        *,
        defaults: dict[str, Any],
        actor: str,
    ) -> None:
        """Set (``on``/``off``/``beta``) or clear (``None``) one tenant's state, recorded."""
        await self._flag_for_update(name, defaults)  # serializes changes of this flag
        key = {"flag_name": name, "tenant_id": tenant_id}
        row = await self.session.get(FeatureFlagTenant, key)
        old = row.state if row else None
        if old == state:
            return
        if state is None:
            await self.session.execute(
                delete(FeatureFlagTenant).where(
                    FeatureFlagTenant.flag_name == name, FeatureFlagTenant.tenant_id == tenant_id
                )
            )
            if row is not None:
                self.session.expunge(row)
        elif row is None:
            self.session.add(FeatureFlagTenant(**key, state=state, updated_by=actor))
        else:
            row.state = state
            row.updated_at = utcnow()
            row.updated_by = actor
        self.session.add(
            FeatureFlagChange(
                flag_name=name, tenant_id=tenant_id, actor=actor, change={"state": [old, state]}
            )
        )
        await self.session.flush()

    async def changes(self, name: str, *, limit: int) -> Sequence[FeatureFlagChange]:
        """The newest ``limit`` changes of a flag, newest first."""
        result = await self.session.execute(
            select(FeatureFlagChange)
            .where(FeatureFlagChange.flag_name == name)
            .order_by(FeatureFlagChange.id.desc())
            .limit(limit)
        )
        return result.scalars().all()
