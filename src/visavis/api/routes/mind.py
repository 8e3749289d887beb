"""A twin's memory over REST: facts, stories, bulk import and export, search."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse

from visavis.api.deps import ContextDep, PrincipalDep, SessionDep
from visavis.api.problems import HTTPProblem
from visavis.api.routes.twins import mind_of
from visavis.api.twin_schemas import (
    FactCreated,
    FactList,
    FactPublic,
    ImportResult,
    SearchHit,
    SearchResult,
    StoryList,
    StoryPublic,
)
from visavis.db.repositories.memory import MemoryRepository
from visavis.db.repositories.twins import TwinRepository
from visavis.mind.importing import ImportFormat, parse
from visavis.mind.schemas import FactIn, FactUpdate, StoryIn, StoryUpdate

router = APIRouter(prefix="/v1/twins/{twin_id}", tags=["twin memory"])

Validity = Literal["valid", "all", "past"]


@router.post("/facts", status_code=status.HTTP_201_CREATED, response_model=FactCreated)
async def add_fact(
    twin_id: uuid.UUID, body: FactIn, principal: PrincipalDep, session: SessionDep, ctx: ContextDep
) -> FactCreated:
    """Store a fact; a still-valid fact with the same subject becomes no longer valid."""
    mind, _ = mind_of(ctx)
    result = await mind.write(session, principal.tenant_id, twin_id, [body], restate_past=True)
    await session.commit()
    if not result.created:
        raise HTTPProblem(
            409, "the twin already knows this fact (same statement)", code="duplicate_fact"
        )
    row = result.created[0]
    return FactCreated(**FactPublic.of(row).model_dump(), superseded=result.superseded)


@router.get("/facts", response_model=FactList)
async def list_facts(
    twin_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    validity: Validity = "all",
) -> FactList:
    """Facts oldest first; ``validity=valid`` or ``past`` (replaced by newer facts) filters."""
    await TwinRepository(session, principal.tenant_id).get(twin_id)
    rows = await MemoryRepository(session, principal.tenant_id).list(twin_id, kind="fact")
    if validity != "all":
        rows = [r for r in rows if (r.valid_until is None) == (validity == "valid")]
    return FactList(items=[FactPublic.of(r) for r in rows])


@router.get("/facts/{fact_id}", response_model=FactPublic)
async def get_fact(
    twin_id: uuid.UUID, fact_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> FactPublic:
    row = await MemoryRepository(session, principal.tenant_id).get(twin_id, fact_id, "fact")
    return FactPublic.of(row)


@router.patch("/facts/{fact_id}", response_model=FactPublic)
async def patch_fact(
    twin_id: uuid.UUID,
    fact_id: uuid.UUID,
    body: FactUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> FactPublic:
    """Correct a fact in place (a change of the facts themselves: add a new fact instead)."""
    mind, _ = mind_of(ctx)
    row = await mind.update(session, principal.tenant_id, twin_id, fact_id, body)
    await session.commit()
    return FactPublic.of(row)


@router.delete("/facts/{fact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_fact(
    twin_id: uuid.UUID,
    fact_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> None:
    mind, _ = mind_of(ctx)
    await mind.delete(session, principal.tenant_id, twin_id, fact_id, "fact")
    await session.commit()


@router.post("/stories", status_code=status.HTTP_201_CREATED, response_model=StoryPublic)
async def add_story(
    twin_id: uuid.UUID,
    body: StoryIn,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> StoryPublic:
    mind, _ = mind_of(ctx)
    result = await mind.write(session, principal.tenant_id, twin_id, [body])
    await session.commit()
    if not result.created:
        raise HTTPProblem(409, "the twin already has this story (same text)", code="duplicate")
    return StoryPublic.of(result.created[0])


@router.get("/stories", response_model=StoryList)
async def list_stories(
    twin_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> StoryList:
    await TwinRepository(session, principal.tenant_id).get(twin_id)
    rows = await MemoryRepository(session, principal.tenant_id).list(twin_id, kind="story")
    return StoryList(items=[StoryPublic.of(r) for r in rows])


@router.get("/stories/{story_id}", response_model=StoryPublic)
async def get_story(
    twin_id: uuid.UUID, story_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> StoryPublic:
    row = await MemoryRepository(session, principal.tenant_id).get(twin_id, story_id, "story")
    return StoryPublic.of(row)


@router.patch("/stories/{story_id}", response_model=StoryPublic)
async def patch_story(
    twin_id: uuid.UUID,
    story_id: uuid.UUID,
    body: StoryUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> StoryPublic:
    mind, _ = mind_of(ctx)
    row = await mind.update(session, principal.tenant_id, twin_id, story_id, body)
    await session.commit()
    return StoryPublic.of(row)


@router.delete("/stories/{story_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_story(
    twin_id: uuid.UUID,
    story_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> None:
    mind, _ = mind_of(ctx)
    await mind.delete(session, principal.tenant_id, twin_id, story_id, "story")
    await session.commit()


def _format(request: Request, given: ImportFormat | None) -> ImportFormat:
    if given is not None:
        return given
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("text/markdown", "text/x-markdown"):
        return "markdown"
    if media in ("application/x-ndjson", "application/jsonl", "application/json-lines"):
        return "jsonl"
    raise HTTPProblem(
        415,
        "send the file as application/x-ndjson (JSONL) or text/markdown, or add "
        "?format=jsonl|markdown",
        code="unsupported_import_type",
    )


@router.post("/memory/import", response_model=ImportResult)
async def import_memory(
    twin_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
    fmt: Annotated[ImportFormat | None, Query(alias="format")] = None,
) -> ImportResult:
    """Import a JSONL or Markdown file; any broken line refuses the whole file."""
    mind, _ = mind_of(ctx)
    await TwinRepository(session, principal.tenant_id).get(twin_id)
    chosen = _format(request, fmt)
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPProblem(
            422,
            f"the file is not UTF-8 text (byte {exc.start} is invalid): save it as UTF-8",
            code="not_text",
        ) from None
    items = parse(text, chosen)
    result = await mind.write(session, principal.tenant_id, twin_id, items)
    await session.commit()
    return ImportResult(
        facts=sum(1 for r in result.created if r.kind == "fact"),
        stories=sum(1 for r in result.created if r.kind == "story"),
        duplicates=result.duplicates,
        superseded=result.superseded,
    )


@router.get("/memory/export")
async def export_memory(
    twin_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, ctx: ContextDep
) -> StreamingResponse:
    """Every fact and story as JSONL (importable again), oldest first."""
    mind, _ = mind_of(ctx)
    await TwinRepository(session, principal.tenant_id).get(twin_id)
    lines = [line async for line in mind.export(session, principal.tenant_id, twin_id)]

    async def body() -> AsyncIterator[str]:
        for line in lines:
            yield line

    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"content-disposition": f'attachment; filename="twin-{twin_id}.jsonl"'},
    )


@router.get("/memory/search", response_model=SearchResult)
async def search_memory(
    twin_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
    q: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> SearchResult:
    """Hybrid retrieval as the twin does it, with each item's scores."""
    mind, _ = mind_of(ctx)
    await TwinRepository(session, principal.tenant_id).get(twin_id)
    if not q or not q.strip():
        raise HTTPProblem(422, "give the question to search for as ?q=...", code="query_missing")
    hits = await mind.search(session, principal.tenant_id, twin_id, q, limit=limit)
    return SearchResult(
        items=[
            SearchHit(
                id=h.item.id,
                kind=h.item.kind,
                title=h.item.title,
                text=h.item.text,
                valid=h.item.valid,
                score=round(h.score, 6),
                confidence=round(h.confidence, 4),
                lexical_rank=h.lexical_rank,
                similarity=round(h.similarity, 4),
            )
            for h in hits
        ]
    )
