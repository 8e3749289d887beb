"""``/v1/flags``: which features a client of the calling tenant may show."""

from __future__ import annotations

from fastapi import APIRouter

from visavis.api.deps import ContextDep, PrincipalDep, SessionDep
from visavis.api.tenancy_schemas import FlagPublic, FlagsPublic
from visavis.tenancy.flags import KNOWN_FLAGS, load_snapshot

router = APIRouter(prefix="/v1/flags", tags=["flags"])


@router.get("", response_model=FlagsPublic)
async def get_flags(principal: PrincipalDep, session: SessionDep, ctx: ContextDep) -> FlagsPublic:
    """Each feature on or off for this tenant, as new conversations will see it."""
    snapshot = await ctx.flags.snapshot() if ctx.flags is not None else await load_snapshot(session)
    return FlagsPublic(
        flags={
            name: FlagPublic.of(snapshot.evaluate(name, principal.tenant_id))
            for name in sorted(KNOWN_FLAGS)
        }
    )
