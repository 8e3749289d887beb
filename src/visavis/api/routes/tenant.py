"""``/v1/tenant``: the calling tenant's own preferences."""

from __future__ import annotations

from fastapi import APIRouter

from visavis.api.deps import PrincipalDep, SessionDep
from visavis.api.schemas import PreferencesPublic, PreferencesUpdate
from visavis.db.repositories.tenants import TenantRepository

router = APIRouter(prefix="/v1/tenant", tags=["tenant"])


@router.get("/preferences", response_model=PreferencesPublic)
async def get_preferences(principal: PrincipalDep, session: SessionDep) -> PreferencesPublic:
    prefs = await TenantRepository(session).preferences(principal.tenant_id)
    await session.commit()
    return PreferencesPublic.of(prefs)


@router.put("/preferences", response_model=PreferencesPublic)
async def put_preferences(
    body: PreferencesUpdate, principal: PrincipalDep, session: SessionDep
) -> PreferencesPublic:
    """Set the fields given; ``null`` removes a limit; fields left out are kept."""
    changes = body.model_dump(exclude_unset=True)
    if "monthly_cost_limit_usd" in changes:
        usd = changes.pop("monthly_cost_limit_usd")
        changes["monthly_cost_limit_microusd"] = None if usd is None else round(usd * 1_000_000)
    for required in ("avatar_enabled_default", "default_provider"):
        if required in changes and changes[required] is None:
            del changes[required]  # not nullable: null means "leave as is"
    prefs = await TenantRepository(session).update_preferences(principal.tenant_id, changes)
    await session.commit()
    return PreferencesPublic.of(prefs)
