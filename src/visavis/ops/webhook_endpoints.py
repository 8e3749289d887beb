"""A tenant's webhook endpoints: register, change, remove, and read their delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from visavis.errors import ConflictError, InvalidInputError, NotFoundError
from visavis.ops.events import EVENT_TYPES
from visavis.ops.webhook_signing import new_secret
from visavis.tenancy.crypto import SecretBox

MAX_ENDPOINTS_PER_TENANT = 20
DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


def check_url(url: str, *, require_https: bool) -> str:
    """A webhook URL a person can fix if refused: absolute http(s), https in production."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("the webhook URL must be an absolute http:// or https:// URL")
    if require_https and parts.scheme != "https":
        raise InvalidInputError("webhook URLs must use https:// in production")
    if len(url) > 2048:
        raise InvalidInputError("the webhook URL is longer than 2048 characters")
    return url.strip()


def check_types(types: Sequence[str] | None) -> list[str] | None:
    """The event types an endpoint wants (``None``: all), each a known type."""
    if types is None:
        return None
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInputError(
            f"unknown event types {', '.join(unknown)}: use some of {', '.join(EVENT_TYPES)}"
        )
    if not types:
        raise InvalidInputError("list at least one event type, or leave event_types out for all")
    return sorted(set(types))


class WebhookEndpoints:
    """One tenant's endpoints (every query names the tenant: row-level security or not)."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def register(
        self, *, url: str, event_types: Sequence[str] | None, box: SecretBox, require_https: bool
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its signing secret (shown once); the caller commits."""
        url = check_url(url, require_https=require_https)
        types = check_types(event_types)
        count = await self.session.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.tenant_id == self.tenant_id)
        )
        if (count or 0) >= MAX_ENDPOINTS_PER_TENANT:
            raise ConflictError(
                f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints: delete one"
            )
        secret = new_secret()
        row = WebhookEndpoint(
            tenant_id=self.tenant_id,
            url=url,
            event_types=types,
            secret_encrypted=box.encrypt(secret),
            enabled=True,
            consecutive_failures=0,
        )
        self.session.add(row)
        await self.session.flush()
        return row, secret

    async def list(self) -> Sequence[WebhookEndpoint]:
        result = await self.session.execute(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.tenant_id == self.tenant_id)
            .order_by(WebhookEndpoint.id)
        )
        return result.scalars().all()

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        row = await self.session.scalar(
            select(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == self.tenant_id
            )
        )
        if row is None:
            raise NotFoundError("no such webhook endpoint")
        return row

    async def change(
        self,
        endpoint_id: uuid.UUID,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        all_types: bool = False,
        enabled: bool | None = None,
        require_https: bool,
    ) -> WebhookEndpoint:
        """Change an endpoint; enabling it again forgets its failures. The caller commits."""
        row = await self.get(endpoint_id)
        if url is not None:
            row.url = check_url(url, require_https=require_https)
        if all_types:
            row.event_types = None
        elif event_types is not None:
            row.event_types = check_types(event_types)
        if enabled is True and not row.enabled:
            row.enabled = True
            row.disabled_reason = None
            row.consecutive_failures = 0
            row.failing_since = None
        elif enabled is False and row.enabled:
            row.enabled = False
            row.disabled_reason = "disabled by the tenant"
            await self._cancel_pending(endpoint_id)
        await self.session.flush()
        return row

    async def remove(self, endpoint_id: uuid.UUID) -> None:
        """Delete an endpoint with its deliveries and log; the caller commits."""
        await self.get(endpoint_id)
        await self.session.execute(
            delete(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == self.tenant_id
            )
        )

    async def _cancel_pending(self, endpoint_id: uuid.UUID) -> None:
        await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.tenant_id == self.tenant_id,
                WebhookDelivery.status == "pending",
            )
            .values(status="cancelled")
        )

    async def deliveries(
        self,
        endpoint_id: uuid.UUID,
        *,
        status: str | None = None,
        after: uuid.UUID | None = None,
        limit: int = 100,
    ) -> Sequence[WebhookDelivery]:
        """The endpoint's deliveries, newest first, before the cursor ``after``."""
        await self.get(endpoint_id)
        if status is not None and status not in DELIVERY_STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(DELIVERY_STATUSES)}")
        query = select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.tenant_id == self.tenant_id,
        )
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        if after is not None:
            query = query.where(WebhookDelivery.id < after)
        result = await self.session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit))
        return result.scalars().all()

    async def attempt_log(
        self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> Sequence[WebhookAttempt]:
        """Every attempt of one delivery, oldest first."""
        delivery = await self.session.scalar(
            select(WebhookDelivery.id).where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.tenant_id == self.tenant_id,
            )
        )
        if delivery is None:
            raise NotFoundError("no such webhook delivery")
        result = await self.session.execute(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        )
        return result.scalars().all()
