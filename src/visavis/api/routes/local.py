"""``/v1/local``: the built-in page's own door, in development and from loopback only.

It lets ``visavis serve`` → open the page → talk work with no key copying, while a
production deployment (or any remote caller) sees nothing here. With no key, it opens only
the local avatar: a provider avatar (which costs money every minute) needs an API key.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from fastapi import APIRouter, Request, status
from pydantic import BaseModel

from visavis.api.deps import ContextDep, SessionDep
from visavis.api.problems import HTTPProblem
from visavis.api.routes.conversations import start_conversation
from visavis.api.schemas import AvatarRequest, ConversationCreate, ConversationPublic
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.tenancy import client_tokens

router = APIRouter(prefix="/v1/local", tags=["local"])

LOCAL_TENANT = "local"


class LocalConversation(BaseModel):
    conversation: ConversationPublic
    token: str
    expires_at: datetime


def local_avatar_only(body: ConversationCreate) -> ConversationCreate:
    """``body`` with its avatar limited to the local one (``true`` means the local avatar)."""
    avatar = body.avatar
    if isinstance(avatar, AvatarRequest) and avatar.provider != "local":
        raise HTTPProblem(
            403,
            f"the development page's door opens only the local avatar, not {avatar.provider!r}: "
            "create provider conversations with an API key (POST /v1/conversations)",
            code="provider_needs_api_key",
        )
    if avatar is True:
        return body.model_copy(update={"avatar": AvatarRequest(provider="local")})
    return body


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


@router.post(
    "/conversations", status_code=status.HTTP_201_CREATED, response_model=LocalConversation
)
async def create_local(
    body: ConversationCreate, request: Request, session: SessionDep, ctx: ContextDep
) -> LocalConversation:
    """A conversation of the ``local`` tenant and its client token, for the built-in page."""
    if ctx.settings.env != "development" or not _is_loopback(request):
        raise HTTPProblem(404, "no such endpoint: see /docs for the API")
    tenant = await TenantRepository(session).find_by_name(LOCAL_TENANT)
    if tenant is None:
        raise HTTPProblem(
            404,
            "the local tenant does not exist: it is created by the first 'visavis serve' on an "
            "empty database in development",
            code="no_local_tenant",
        )
    body = local_avatar_only(body)
    await scope_to_tenant(session, tenant.id, switch_role=ctx.settings.database_rls)
    row = await start_conversation(session, ctx, tenant.id, body)
    token, expires_at = client_tokens.mint(
        secret=ctx.settings.secret_key.get_secret_value(),
        conversation_id=row.id,
        tenant_id=tenant.id,
        key_id=None,  # the loopback door of development: no API key
        ttl_s=ctx.settings.client_token_ttl_s,
    )
    return LocalConversation(
        conversation=ConversationPublic.of(row),
        token=token,
        expires_at=datetime.fromtimestamp(expires_at, UTC),
    )
