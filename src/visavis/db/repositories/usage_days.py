"""Usage per UTC day: conversations started, avatar sessions, their seconds and cost.

Counted from the rows themselves (conversations and avatar sessions by the day they were
created), so the figures need no extra bookkeeping on the hot path. A session's seconds and
cost are its settled figures: zero until it stops.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from visavis.db.models import AvatarSession, Conversation


@dataclass(frozen=True, slots=True)
class DayRow:
    """One tenant's figures on one UTC day (``day`` as ``YYYY-MM-DD``)."""

    tenant_id: uuid.UUID
    day: str
    conversations: int = 0
    avatar_sessions: int = 0
    avatar_seconds: float = 0.0
    cost_microusd: int = 0


class UsageDaysRepository:
    """Per-day sums over every tenant (an admin's unscoped session) or one tenant's own."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID | None = None) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def _day(self, column: InstrumentedAttribute[datetime]) -> ColumnElement[str]:
        if self.session.sync_session.get_bind().dialect.name == "postgresql":
            return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
        return func.substr(column, 1, 10)  # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS…'

    async def days(self, first: date, last: date) -> Sequence[DayRow]:
        """Rows for the days ``first`` … ``last`` (inclusive) that had any usage."""
        since = datetime.combine(first, time(), tzinfo=UTC)
        until = datetime.combine(date.fromordinal(last.toordinal() + 1), time(), tzinfo=UTC)
        talks_day = self._day(Conversation.created_at).label("day")
        talks = (
            select(Conversation.tenant_id, talks_day, func.count().label("n"))
            .where(Conversation.created_at >= since, Conversation.created_at < until)
            .group_by(Conversation.tenant_id, talks_day)
        )
        faces_day = self._day(AvatarSession.created_at).label("day")
        faces = (
            select(
                AvatarSession.tenant_id,
                faces_day,
                func.count().label("n"),
                func.coalesce(func.sum(AvatarSession.streaming_seconds), 0.0),
                func.coalesce(func.sum(AvatarSession.cost_microusd), 0),
            )
            .where(AvatarSession.created_at >= since, AvatarSession.created_at < until)
            .group_by(AvatarSession.tenant_id, faces_day)
        )
        if self.tenant_id is not None:
            talks = talks.where(Conversation.tenant_id == self.tenant_id)
            faces = faces.where(AvatarSession.tenant_id == self.tenant_id)
        rows: dict[tuple[uuid.UUID, str], DayRow] = {}
        for tenant, day, count in (await self.session.execute(talks)).all():
            rows[tenant, day] = DayRow(tenant_id=tenant, day=day, conversations=int(count))
        for tenant, day, count, seconds, cost in (await self.session.execute(faces)).all():
            before = rows.get((tenant, day), DayRow(tenant_id=tenant, day=day))
            rows[tenant, day] = DayRow(
                tenant_id=tenant,
                day=day,
                conversations=before.conversations,
                avatar_sessions=int(count),
                avatar_seconds=float(seconds),
                cost_microusd=int(cost),
            )
        return sorted(rows.values(), key=lambda r: (str(r.tenant_id), r.day))
