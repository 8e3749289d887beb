"""``/v1/avatars``: the avatars each configured provider offers, for tenants to pick from;
``/v1/admin/avatars``: the same list for the admin console."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from visavis.api.deps import ContextDep, PrincipalDep
from visavis.api.problems import HTTPProblem
from visavis.api.routes.admin import require_admin
from visavis.avatars.catalogue import AvatarCatalogueCache
from visavis.avatars.names import canonical
from visavis.context import AppContext

router = APIRouter(prefix="/v1", tags=["avatars"])
ProviderQuery = Annotated[
    str | None, Query(max_length=50, description="Only this provider (heygen means liveavatar)")
]


class AvatarPublic(BaseModel):
    id: str
    name: str
    preview_url: str | None
    provider: str


class CatalogueFailurePublic(BaseModel):
    provider: str
    reason: str
    detail: str


class AvatarListPublic(BaseModel):
    avatars: list[AvatarPublic]
    #: Providers whose list could not be fetched just now (the others are still listed).
    unavailable: list[CatalogueFailurePublic]


@router.get("/avatars", response_model=AvatarListPublic)
async def list_avatars(
    principal: PrincipalDep, ctx: ContextDep, provider: ProviderQuery = None
) -> AvatarListPublic:
    """The avatars of every configured provider (or of one), cached briefly."""
    return await _listing(ctx, provider)


@router.get(
    "/admin/avatars",
    response_model=AvatarListPublic,
    tags=["admin"],
    dependencies=[Depends(require_admin)],
)
async def admin_list_avatars(ctx: ContextDep, provider: ProviderQuery = None) -> AvatarListPublic:
    """The same catalogue for the operator, who picks tenants' default avatars."""
    return await _listing(ctx, provider)


async def _listing(ctx: AppContext, provider: str | None) -> AvatarListPublic:
    catalogue = ctx.catalogue or AvatarCatalogueCache(ctx.providers, ttl_s=0)
    name = canonical(provider) if provider is not None else None
    if name is not None and name not in catalogue.listed_providers():
        offered = ", ".join(catalogue.listed_providers()) or "none"
        raise HTTPProblem(
            404,
            f"no avatar catalogue for provider {provider!r} on this server; "
            f"providers with one: {offered}",
            code="provider_not_configured",
        )
    result = await catalogue.avatars(name)
    if name is not None and result.failures:
        failure = result.failures[0]
        raise HTTPProblem(
            503,
            f"{failure.provider} could not list its avatars ({failure.detail}); try again shortly",
            code="provider_unavailable",
            headers={"Retry-After": "5"},
        )
    return AvatarListPublic(
        avatars=[
            AvatarPublic(
                id=a.avatar_id, name=a.name, preview_url=a.preview_url, provider=a.provider
            )
            for a in result.avatars
        ],
        unavailable=[
            CatalogueFailurePublic(provider=f.provider, reason=f.reason, detail=f.detail)
            for f in result.failures
        ],
    )
