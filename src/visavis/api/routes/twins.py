"""``/v1/twins``: a tenant's digital twins, asking them, and what they were asked."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from visavis.agents.base import Message
from visavis.agents.errors import AgentError
from visavis.agents.twin import TwinAgent, TwinAgentOptions, is_dont_know
from visavis.api.deps import ContextDep, PrincipalDep, SessionDep
from visavis.api.problems import HTTPProblem
from visavis.api.twin_schemas import (
    AskAnswer,
    AskBody,
    QueryList,
    QueryPublic,
    TwinCreate,
    TwinList,
    TwinPublic,
    TwinUpdate,
    UsedItem,
)
from visavis.context import AppContext
from visavis.db.repositories.conversations import ConversationRepository
from visavis.db.repositories.memory import MemoryQueryRepository
from visavis.db.repositories.twins import TwinRepository
from visavis.mind.service import MindService
from visavis.mind.twin_setup import load_twin_setup, retrieved_summary
from visavis.mind.twins import create_twin, update_twin
from visavis.tenancy.crypto import SecretBox

router = APIRouter(prefix="/v1/twins", tags=["twins"])


def mind_of(ctx: AppContext) -> tuple[MindService, SecretBox]:
    """The instance's memory service and secret box (both built by the app factory)."""
    if ctx.mind is None or ctx.secret_box is None:
        raise HTTPProblem(503, "twins are not enabled on this instance", code="twins_disabled")
    return ctx.mind, ctx.secret_box


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TwinPublic)
async def create(
    body: TwinCreate, principal: PrincipalDep, session: SessionDep, ctx: ContextDep
) -> TwinPublic:
    """Create a twin; talk to it with ``{"agent": "twin", "twin": "<id>"}``."""
    _, box = mind_of(ctx)
    twin = await create_twin(session, principal.tenant_id, body, box)
    await session.commit()
    return TwinPublic.of(twin)


@router.get("", response_model=TwinList)
async def list_twins(principal: PrincipalDep, session: SessionDep) -> TwinList:
    rows = await TwinRepository(session, principal.tenant_id).list()
    return TwinList(items=[TwinPublic.of(r) for r in rows])


@router.get("/{twin_id}", response_model=TwinPublic)
async def get(twin_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> TwinPublic:
    return TwinPublic.of(await TwinRepository(session, principal.tenant_id).get(twin_id))


@router.patch("/{twin_id}", response_model=TwinPublic)
async def patch(
    twin_id: uuid.UUID,
    body: TwinUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> TwinPublic:
    """Change the fields given; ``"llm": null`` makes the twin answer offline."""
    _, box = mind_of(ctx)
    twin = await update_twin(session, principal.tenant_id, twin_id, body, box)
    await session.commit()
    return TwinPublic.of(twin)


@router.delete("/{twin_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(
    twin_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, ctx: ContextDep
) -> None:
    """Delete the twin with its whole memory and query history."""
    await TwinRepository(session, principal.tenant_id).delete(twin_id)
    await session.commit()
    if ctx.mind is not None:
        ctx.mind.cache.forget(twin_id)


@router.post("/{twin_id}/ask", response_model=AskAnswer)
async def ask(
    twin_id: uuid.UUID,
    body: AskBody,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> AskAnswer:
    """Ask the twin one question in text; the answer says which memory items it used.

    The question and answer go to the query history (with ``conversation_id`` when given).
    """
    mind, box = mind_of(ctx)
    await TwinRepository(session, principal.tenant_id).get(twin_id)
    if body.conversation_id is not None:
        await ConversationRepository(session, principal.tenant_id).get(body.conversation_id)
    setup = await load_twin_setup(
        mind,
        ctx.sessions,
        box,
        tenant_id=principal.tenant_id,
        twin_id=twin_id,
        conversation_id=body.conversation_id,
        switch_role=ctx.settings.database_rls,
    )
    agent = TwinAgent(
        setup, options=TwinAgentOptions(threshold=ctx.settings.twin_confidence_threshold)
    )
    try:
        answer = "".join([delta async for delta in agent.stream([Message("user", body.question)])])
    except AgentError as exc:
        raise HTTPProblem(502, f"the twin's LLM failed: {exc.message}", code=exc.code) from exc
    finally:
        await agent.aclose()
    turn = agent.last_turn
    assert turn is not None
    by_id = {item.id: item for item in turn.recall.items}
    return AskAnswer(
        answer=answer,
        mode=turn.mode,
        dont_know=is_dont_know(answer),
        used=[
            UsedItem(id=i, kind=by_id[i].kind, title=by_id[i].title, text=by_id[i].text)
            for i in turn.used
        ],
        retrieved=retrieved_summary(turn.recall),
    )


@router.get("/{twin_id}/queries", response_model=QueryList)
async def queries(
    twin_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    conversation_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> QueryList:
    """The questions asked to the twin, newest first, with what was retrieved and used."""
    await TwinRepository(session, principal.tenant_id).get(twin_id)
    rows = await MemoryQueryRepository(session, principal.tenant_id).list(
        twin_id, conversation_id=conversation_id, limit=limit
    )
    return QueryList(items=[QueryPublic.of(r) for r in rows])
