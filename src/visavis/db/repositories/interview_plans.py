"""Interview plans of a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import utcnow
from visavis.db.models import InterviewPlanRow
from visavis.errors import NotFoundError


class InterviewPlanRepository:
    """Tenant-scoped plans, by name."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def find(self, name: str) -> InterviewPlanRow | None:
        result = await self.session.execute(
            select(InterviewPlanRow).where(
                InterviewPlanRow.tenant_id == self.tenant_id, InterviewPlanRow.name == name
            )
        )
        return result.scalar_one_or_none()

    async def get(self, name: str) -> InterviewPlanRow:
        row = await self.find(name)
        if row is None:
            raise NotFoundError(f"no interview plan named {name!r}")
        return row

    async def put(self, name: str, plan: dict[str, Any]) -> tuple[InterviewPlanRow, bool]:
        """Create or replace; returns the row and whether it is new."""
        row = await self.find(name)
        if row is None:
            row = InterviewPlanRow(tenant_id=self.tenant_id, name=name, plan=plan)
            self.session.add(row)
            await self.session.flush()
            return row, True
        row.plan = plan
        row.updated_at = utcnow()
        await self.session.flush()
        return row, False

    async def list(self) -> Sequence[InterviewPlanRow]:
        result = await self.session.execute(
            select(InterviewPlanRow)
            .where(InterviewPlanRow.tenant_id == self.tenant_id)
            .order_by(InterviewPlanRow.name)
        )
        return result.scalars().all()

    async def delete(self, name: str) -> None:
        result = await self.session.execute(
            delete(InterviewPlanRow).where(
                InterviewPlanRow.tenant_id == self.tenant_id, InterviewPlanRow.name == name
            )
        )
        if getattr(result, "rowcount", 0) == 0:
            raise NotFoundError(f"no interview plan named {name!r}")
