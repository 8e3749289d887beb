"""``GET /v1/events``: the tenant's analytics events, oldest first, page by page."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from visavis.api.deps import PrincipalDep, SessionDep
from visavis.api.problems import HTTPProblem
from visavis.api.routes.conversations import decode_cursor, encode_cursor
from visavis.db.models import AnalyticsEvent
from visavis.ops.events import EVENT_TYPES, events_page

router = APIRouter(prefix="/v1/events", tags=["events"])


class EventPublic(BaseModel):
    id: uuid.UUID
    type: str
    created_at: datetime
    conversation_id: uuid.UUID | None
    data: dict[str, Any]

    @classmethod
    def of(cls, row: AnalyticsEvent) -> EventPublic:
        return cls(
            id=row.id,
            type=row.type,
            created_at=row.occurred_at,
            conversation_id=row.conversation_id,
            data=row.data,
        )


class EventPage(BaseModel):
    items: list[EventPublic]
    #: Pass back as ``cursor`` for the next page; also when empty, to poll for newer events.
    next_cursor: str | None


@router.get("", response_model=EventPage)
async def list_events(
    principal: PrincipalDep,
    session: SessionDep,
    type: Annotated[  # noqa: A002 - the query parameter's name
        list[str] | None, Query(description="only these event types (repeat the parameter)")
    ] = None,
    since: Annotated[datetime | None, Query(description="at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="before (ISO 8601)")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EventPage:
    """Events oldest first. ``next_cursor`` continues after the last one returned."""
    for name in type or []:
        if name not in EVENT_TYPES:
            raise HTTPProblem(
                422,
                f"unknown event type {name!r}: use one of {', '.join(EVENT_TYPES)}",
                code="invalid_input",
            )
    for moment, name in ((since, "since"), (until, "until")):
        if moment is not None and moment.tzinfo is None:
            raise HTTPProblem(
                422, f"'{name}' needs a time zone, e.g. 2026-01-31T12:00:00Z", code="invalid_input"
            )
    after = decode_cursor(cursor) if cursor else None
    rows = await events_page(
        session,
        tenant_id=principal.tenant_id,
        types=type,
        since=since,
        until=until,
        after=after,
        limit=limit,
    )
    last = rows[-1].id if rows else after
    return EventPage(
        items=[EventPublic.of(r) for r in rows], next_cursor=encode_cursor(last) if last else None
    )
