"""``/v1/webhooks``: a tenant's webhook endpoints and their delivery log; an admin overview."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from visavis.api.deps import ContextDep, PrincipalDep, SessionDep
from visavis.api.routes.admin import require_admin
from visavis.api.routes.conversations import decode_cursor, encode_cursor
from visavis.db.models import Tenant, WebhookDelivery, WebhookEndpoint
from visavis.ops.webhook_endpoints import WebhookEndpoints
from visavis.tenancy.crypto import SecretBox

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
admin_router = APIRouter(
    prefix="/v1/admin/webhooks", tags=["admin"], dependencies=[Depends(require_admin)]
)


class EndpointCreate(BaseModel):
    url: str = Field(max_length=2048, description="https:// URL that receives POSTed events")
    event_types: list[str] | None = Field(
        default=None, max_length=32, description="only these types; omit for every type"
    )


class EndpointUpdate(BaseModel):
    url: str | None = Field(default=None, max_length=2048)
    event_types: list[str] | None = Field(default=None, max_length=32)
    all_event_types: bool = False
    enabled: bool | None = Field(default=None, description="true re-enables a disabled endpoint")


class EndpointPublic(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[str] | None
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    failing_since: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookEndpoint) -> EndpointPublic:
        return cls.model_validate(row, from_attributes=True)


class EndpointCreated(EndpointPublic):
    secret: str = Field(description="signing secret: shown once, store it now")


class EndpointList(BaseModel):
    items: list[EndpointPublic]


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryPublic:
        public = cls.model_validate(row, from_attributes=True)
        return (
            public
            if row.status == "pending"
            else public.model_copy(update={"next_attempt_at": None})
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None


class AttemptPublic(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class AttemptList(BaseModel):
    items: list[AttemptPublic]


def _box(ctx: ContextDep) -> SecretBox:
    settings = ctx.settings
    return SecretBox.from_config(
        encryption_keys=settings.encryption_keys.get_secret_value()
        if settings.encryption_keys
        else None,
        secret_key=settings.secret_key.get_secret_value(),
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EndpointCreated)
async def create_endpoint(
    body: EndpointCreate, principal: PrincipalDep, session: SessionDep, ctx: ContextDep
) -> EndpointCreated:
    """Register an endpoint; the answer holds its signing secret, once (see docs/operations.md)."""
    row, secret = await WebhookEndpoints(session, principal.tenant_id).register(
        url=body.url,
        event_types=body.event_types,
        box=_box(ctx),
        require_https=ctx.settings.env == "production",
    )
    await session.commit()
    return EndpointCreated(**EndpointPublic.of(row).model_dump(), secret=secret)


@router.get("", response_model=EndpointList)
async def list_endpoints(principal: PrincipalDep, session: SessionDep) -> EndpointList:
    rows = await WebhookEndpoints(session, principal.tenant_id).list()
    return EndpointList(items=[EndpointPublic.of(r) for r in rows])


@router.get("/{endpoint_id}", response_model=EndpointPublic)
async def get_endpoint(
    endpoint_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> EndpointPublic:
    return EndpointPublic.of(await WebhookEndpoints(session, principal.tenant_id).get(endpoint_id))


@router.patch("/{endpoint_id}", response_model=EndpointPublic)
async def update_endpoint(
    endpoint_id: uuid.UUID,
    body: EndpointUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> EndpointPublic:
    """Change the URL or types; ``{"enabled": true}`` re-enables a disabled endpoint."""
    row = await WebhookEndpoints(session, principal.tenant_id).change(
        endpoint_id,
        url=body.url,
        event_types=body.event_types,
        all_types=body.all_event_types,
        enabled=body.enabled,
        require_https=ctx.settings.env == "production",
    )
    await session.commit()
    return EndpointPublic.of(row)


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_endpoint(
    endpoint_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> None:
    await WebhookEndpoints(session, principal.tenant_id).remove(endpoint_id)
    await session.commit()


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    endpoint_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    status: Annotated[
        str | None, Query(description="pending, delivered, failed, cancelled")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryPage:
    """The delivery log, newest first."""
    rows = await WebhookEndpoints(session, principal.tenant_id).deliveries(
        endpoint_id,
        status=status,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    more = len(rows) == limit
    return DeliveryPage(
        items=[DeliveryPublic.of(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if rows and more else None,
    )


@router.get("/{endpoint_id}/deliveries/{delivery_id}/attempts", response_model=AttemptList)
async def list_attempts(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> AttemptList:
    """Every attempt of one delivery: when, the answer's status or the error, how long."""
    rows = await WebhookEndpoints(session, principal.tenant_id).attempt_log(
        endpoint_id, delivery_id
    )
    return AttemptList(items=[AttemptPublic.model_validate(r, from_attributes=True) for r in rows])


class AdminEndpoint(EndpointPublic):
    tenant: str
    pending: int
    failed: int


class AdminEndpointList(BaseModel):
    items: list[AdminEndpoint]


@admin_router.get("", response_model=AdminEndpointList)
async def admin_endpoints(
    session: SessionDep,
    failing: Annotated[bool, Query(description="only endpoints failing or disabled")] = False,
) -> AdminEndpointList:
    """Every tenant's endpoints with their pending and failed deliveries."""
    counts = (
        select(
            WebhookDelivery.endpoint_id,
            func.count().filter(WebhookDelivery.status == "pending").label("pending"),
            func.count().filter(WebhookDelivery.status == "failed").label("failed"),
        )
        .group_by(WebhookDelivery.endpoint_id)
        .subquery()
    )
    query = (
        select(WebhookEndpoint, Tenant.name, counts.c.pending, counts.c.failed)
        .join(Tenant, Tenant.id == WebhookEndpoint.tenant_id)
        .outerjoin(counts, counts.c.endpoint_id == WebhookEndpoint.id)
        .order_by(Tenant.name, WebhookEndpoint.id)
    )
    if failing:
        query = query.where(
            (WebhookEndpoint.consecutive_failures > 0) | WebhookEndpoint.enabled.is_(False)
        )
    rows = (await session.execute(query)).all()
    return AdminEndpointList(
        items=[
            AdminEndpoint(
                **EndpointPublic.of(row).model_dump(),
                tenant=tenant,
                pending=pending or 0,
                failed=failed or 0,
            )
            for row, tenant, pending, failed in rows
        ]
    )
