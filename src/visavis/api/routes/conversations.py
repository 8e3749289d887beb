"""``/v1/conversations``: create, read, list, end, transcript, client tokens."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.api.deps import ContextDep, PrincipalDep, SessionDep, SettingsDep
from visavis.api.problems import HTTPProblem
from visavis.api.schemas import (
    AvatarRequest,
    ClientTokenPublic,
    ConversationCreate,
    ConversationPage,
    ConversationPublic,
    TranscriptItem,
    TranscriptPublic,
    TurnPublic,
    TurnsPublic,
)
from visavis.context import AppContext
from visavis.conversation.lifecycle import AvatarChoice, create_conversation
from visavis.db.models import Conversation, Twin
from visavis.db.repositories.conversation_events import ConversationEventRepository
from visavis.db.repositories.conversations import ConversationRepository
from visavis.db.repositories.transcripts import TranscriptRepository
from visavis.db.repositories.twins import TwinRepository
from visavis.tenancy import client_tokens

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

TWIN_AGENT = "twin"


def avatar_choice(body: ConversationCreate) -> AvatarChoice | bool | None:
    """The service's view of the ``avatar`` field."""
    if isinstance(body.avatar, AvatarRequest):
        return AvatarChoice(body.avatar.provider, body.avatar.avatar_id, body.avatar.quality)
    return body.avatar


def encode_cursor(conversation_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(conversation_id.bytes).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise HTTPProblem(
            422, "invalid cursor: pass back the next_cursor of a previous page", code="bad_cursor"
        ) from exc


async def twin_of(
    session: AsyncSession, tenant_id: uuid.UUID, body: ConversationCreate, *, default_agent: str
) -> Twin | None:
    """The twin a conversation talks to: required by the twin agent, refused by the others."""
    agent = body.agent or default_agent
    if agent != TWIN_AGENT:
        if body.twin is not None:
            raise HTTPProblem(
                422,
                f'"twin" is only for the twin agent: send "agent": "{TWIN_AGENT}"',
                code="twin_needs_twin_agent",
            )
        return None
    if body.twin is None:
        raise HTTPProblem(
            422,
            'the twin agent needs a twin: send "twin": "<id>" (create one with POST /v1/twins)',
            code="twin_missing",
        )
    return await TwinRepository(session, tenant_id).get(body.twin)


async def start_conversation(
    session: AsyncSession, ctx: AppContext, tenant_id: uuid.UUID, body: ConversationCreate
) -> Conversation:
    """Record the conversation, commit, and start its avatar session in the background."""
    twin = await twin_of(session, tenant_id, body, default_agent=ctx.settings.default_agent)
    if twin is not None and twin.avatar and body.avatar is None:
        body = body.model_copy(update={"avatar": AvatarRequest(**twin.avatar)})
    row = await create_conversation(
        session,
        settings=ctx.settings,
        tenant_id=tenant_id,
        agents=ctx.agent_names(),
        agent=body.agent,
        plan=body.plan,
        user_ref=body.user_ref,
        avatar=avatar_choice(body),
        flags=ctx.flags,
    )
    row.twin_id = twin.id if twin is not None else None
    row.end_silence_ms = body.turn_taking.end_silence_ms if body.turn_taking else None
    # A twin's own vocabulary follows the conversation's, as its avatar fills in for none.
    terms = [*(body.vocabulary or ()), *((twin.vocabulary or ()) if twin is not None else ())]
    row.vocabulary = list(dict.fromkeys(terms)) or None
    await session.commit()
    if ctx.launcher is not None:
        ctx.launcher.launch(row)
    return row


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConversationPublic)
async def create(
    body: ConversationCreate, principal: PrincipalDep, session: SessionDep, ctx: ContextDep
) -> ConversationPublic:
    """Start a conversation; an avatar that can't be had is reported in ``avatar.reason``."""
    row = await start_conversation(session, ctx, principal.tenant_id, body)
    return ConversationPublic.of(row)


@router.get("", response_model=ConversationPage)
async def list_conversations(
    principal: PrincipalDep,
    session: SessionDep,
    status_filter: Annotated[
        Literal["created", "active", "ended"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> ConversationPage:
    """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    before = decode_cursor(cursor) if cursor else None
    rows, last = await ConversationRepository(session, principal.tenant_id).page(
        status=status_filter, before=before, limit=limit
    )
    return ConversationPage(
        items=[ConversationPublic.of(r) for r in rows],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.get("/{conversation_id}", response_model=ConversationPublic)
async def get(
    conversation_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> ConversationPublic:
    row = await ConversationRepository(session, principal.tenant_id).get(conversation_id)
    return ConversationPublic.of(row)


@router.post("/{conversation_id}/end", response_model=ConversationPublic)
async def end(
    conversation_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, ctx: ContextDep
) -> ConversationPublic:
    """End the conversation (idempotent); its live session and avatar are released."""
    row = await ConversationRepository(session, principal.tenant_id).end(
        conversation_id, reason="ended_by_api"
    )
    await session.commit()
    await ctx.on_conversation_ended(conversation_id)
    return ConversationPublic.of(row)


@router.get("/{conversation_id}/transcript", response_model=TranscriptPublic)
async def transcript(
    conversation_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> TranscriptPublic:
    await ConversationRepository(session, principal.tenant_id).get(conversation_id)
    rows = await TranscriptRepository(session, principal.tenant_id).list(conversation_id)
    return TranscriptPublic(items=[TranscriptItem.of(r) for r in rows])


@router.get("/{conversation_id}/turns", response_model=TurnsPublic)
async def turns(
    conversation_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> TurnsPublic:
    """Each agent turn with its latency (first delta, first audio) and synthesis speed."""
    await ConversationRepository(session, principal.tenant_id).get(conversation_id)
    rows = await ConversationEventRepository(session, principal.tenant_id).turns(conversation_id)
    return TurnsPublic(items=[TurnPublic.of(r) for r in rows])


@router.post("/{conversation_id}/client-token", response_model=ClientTokenPublic)
async def client_token(
    conversation_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> ClientTokenPublic:
    """A short-lived token that lets a browser join this one conversation."""
    row = await ConversationRepository(session, principal.tenant_id).get(conversation_id)
    if row.status == "ended":
        raise HTTPProblem(409, "the conversation has ended", code="conversation_ended")
    token, expires_at = client_tokens.mint(
        secret=settings.secret_key.get_secret_value(),
        conversation_id=row.id,
        tenant_id=principal.tenant_id,
        key_id=principal.key_id,
        ttl_s=settings.client_token_ttl_s,
    )
    return ClientTokenPublic(token=token, expires_at=datetime.fromtimestamp(expires_at, UTC))
