"""Changing a tenant's preferences and limits (API, admin API and CLI share these rules)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import TenantPreferences
from visavis.db.repositories.tenants import TenantRepository

# Not nullable: a null for one of these means "leave as is".
_REQUIRED = ("avatar_enabled_default", "default_provider")


def usd_to_microusd(usd: float | None) -> int | None:
    """Dollars as stored (whole micro-dollars)."""
    return None if usd is None else round(usd * 1_000_000)


async def update_preferences(
    session: AsyncSession, tenant_id: uuid.UUID, changes: dict[str, Any]
) -> TenantPreferences:
    """Apply validated ``changes`` (API names; ``None`` removes a limit); the caller commits."""
    stored = dict(changes)
    if "monthly_cost_limit_usd" in stored:
        stored["monthly_cost_limit_microusd"] = usd_to_microusd(
            stored.pop("monthly_cost_limit_usd")
        )
    for name in _REQUIRED:
        if name in stored and stored[name] is None:
            del stored[name]
    return await TenantRepository(session).update_preferences(tenant_id, stored)
