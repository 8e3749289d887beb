"""Memory items (facts, stories) and the query history of one tenant's twins."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import MemoryItem, MemoryQuery
from visavis.errors import NotFoundError
from visavis.mind import search_index
from visavis.mind.text import fts5_query, tsquery

#: Values per ``IN (...)`` list, well under every driver's parameter limit.
_IN_CHUNK = 500

_SQLITE_SEARCH = text(
    f"SELECT m.id FROM {search_index.FTS_TABLE} f "  # noqa: S608 - constants only
    f"JOIN memory_items m ON m.{search_index.FTS_ROWID_COLUMN} = f.rowid "
    f"WHERE {search_index.FTS_TABLE} MATCH :query AND f.twin_id = :twin "
    f"ORDER BY bm25({search_index.FTS_TABLE}) LIMIT :limit"
)
_POSTGRES_SEARCH = text(
    f"SELECT id FROM memory_items, to_tsquery('{search_index.PG_TS_CONFIG}', :query) q "  # noqa: S608
    f"WHERE twin_id = :twin AND {search_index.TSVECTOR_COLUMN} @@ q "
    f"ORDER BY ts_rank({search_index.TSVECTOR_COLUMN}, q) DESC, id LIMIT :limit"
)


class MemoryRepository:
    """Tenant-scoped memory items, by twin."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def add_all(self, items: Sequence[MemoryItem]) -> None:
        for item in items:
            item.tenant_id = self.tenant_id
        self.session.add_all(items)
        await self.session.flush()

    async def get(self, twin_id: uuid.UUID, item_id: uuid.UUID, kind: str) -> MemoryItem:
        result = await self.session.execute(
            select(MemoryItem).where(
                MemoryItem.id == item_id,
                MemoryItem.twin_id == twin_id,
                MemoryItem.kind == kind,
                MemoryItem.tenant_id == self.tenant_id,
            )
        )
        row = result.scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"{kind} not found")
        return row

    async def list(
        self,
        twin_id: uuid.UUID,
        *,
        kind: str | None = None,
        valid_only: bool = False,
        after: uuid.UUID | None = None,
        limit: int | None = None,
    ) -> Sequence[MemoryItem]:
        """Items oldest first; ``after`` and ``limit`` page through them."""
        query = select(MemoryItem).where(
            MemoryItem.twin_id == twin_id, MemoryItem.tenant_id == self.tenant_id
        )
        if kind is not None:
            query = query.where(MemoryItem.kind == kind)
        if valid_only:
            query = query.where(MemoryItem.valid_until.is_(None))
        if after is not None:
            query = query.where(MemoryItem.id > after)
        query = query.order_by(MemoryItem.id)
        if limit is not None:
            query = query.limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def index_rows(
        self, twin_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> Sequence[Any]:
        """What retrieval keeps in memory of each item, as plain rows (no ORM objects)."""
        query = select(
            MemoryItem.id,
            MemoryItem.kind,
            MemoryItem.title,
            MemoryItem.text,
            MemoryItem.tags,
            MemoryItem.happened_at,
            MemoryItem.valid_from,
            MemoryItem.valid_until,
            MemoryItem.search_text,
            MemoryItem.embedding,
        ).where(MemoryItem.twin_id == twin_id, MemoryItem.tenant_id == self.tenant_id)
        if after is not None:
            query = query.where(MemoryItem.id > after)
        result = await self.session.execute(query.order_by(MemoryItem.id).limit(limit))
        return result.all()

    async def count(self, twin_id: uuid.UUID) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(MemoryItem)
            .where(MemoryItem.twin_id == twin_id, MemoryItem.tenant_id == self.tenant_id)
        )
        return int(result.scalar_one())

    async def valid_facts_about_any(
        self, twin_id: uuid.UUID, subjects: Collection[str]
    ) -> Sequence[MemoryItem]:
        """The still-valid facts whose subject is one of ``subjects`` (lower-case given)."""
        found: builtins.list[MemoryItem] = []
        ordered = sorted(subjects)
        for start in range(0, len(ordered), _IN_CHUNK):
            result = await self.session.execute(
                select(MemoryItem).where(
                    MemoryItem.twin_id == twin_id,
                    MemoryItem.tenant_id == self.tenant_id,
                    MemoryItem.kind == "fact",
                    MemoryItem.valid_until.is_(None),
                    func.lower(MemoryItem.subject).in_(ordered[start : start + _IN_CHUNK]),
                )
            )
            found.extend(result.scalars().all())
        return found

    async def with_texts(
        self, twin_id: uuid.UUID, texts: Collection[str]
    ) -> Sequence[tuple[str, str, datetime | None]]:
        """(kind, text, valid_until) of the items whose trimmed lower-case text is in ``texts``."""
        found: builtins.list[tuple[str, str, datetime | None]] = []
        ordered = sorted(texts)
        for start in range(0, len(ordered), _IN_CHUNK):
            result = await self.session.execute(
                select(MemoryItem.kind, MemoryItem.text, MemoryItem.valid_until).where(
                    MemoryItem.twin_id == twin_id,
                    MemoryItem.tenant_id == self.tenant_id,
                    func.lower(func.trim(MemoryItem.text)).in_(ordered[start : start + _IN_CHUNK]),
                )
            )
            found.extend((kind, text, until) for kind, text, until in result.all())
        return found

    async def supersede(
        self, item_ids: Sequence[uuid.UUID], *, by: uuid.UUID, at: datetime
    ) -> None:
        """Mark older facts no longer valid from ``at``, replaced by ``by``."""
        if not item_ids:
            return
        await self.session.execute(
            update(MemoryItem)
            .where(MemoryItem.id.in_(item_ids), MemoryItem.tenant_id == self.tenant_id)
            .values(valid_until=at, superseded_by=by)
        )

    async def delete(self, twin_id: uuid.UUID, item_id: uuid.UUID, kind: str) -> None:
        result = await self.session.execute(
            delete(MemoryItem).where(
                MemoryItem.id == item_id,
                MemoryItem.twin_id == twin_id,
                MemoryItem.kind == kind,
                MemoryItem.tenant_id == self.tenant_id,
            )
        )
        if getattr(result, "rowcount", 0) == 0:
            raise NotFoundError(f"{kind} not found")

    async def lexical(
        self, twin_id: uuid.UUID, terms: Sequence[str], limit: int
    ) -> Sequence[uuid.UUID]:
        """Ids of the items matching any of ``terms``, best first (FTS5 or PostgreSQL FTS)."""
        if not terms:
            return []
        bind = self.session.get_bind()
        if bind.dialect.name == "postgresql":
            query = tsquery(terms)
            if not query:
                return []
            result = await self.session.execute(
                _POSTGRES_SEARCH, {"query": query, "twin": twin_id, "limit": limit}
            )
            return [uuid.UUID(str(row[0])) for row in result.all()]
        result = await self.session.execute(
            _SQLITE_SEARCH, {"query": fts5_query(terms), "twin": twin_id.hex, "limit": limit}
        )
        return [uuid.UUID(str(row[0])) for row in result.all()]


class MemoryQueryRepository:
    """The questions a tenant's twins were asked."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def add(self, row: MemoryQuery) -> MemoryQuery:
        row.tenant_id = self.tenant_id
        self.session.add(row)
        await self.session.flush()
        return row

    async def list(
        self,
        twin_id: uuid.UUID,
        *,
        conversation_id: uuid.UUID | None = None,
        before: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Sequence[MemoryQuery]:
        """Newest first."""
        query = select(MemoryQuery).where(
            MemoryQuery.twin_id == twin_id, MemoryQuery.tenant_id == self.tenant_id
        )
        if conversation_id is not None:
            query = query.where(MemoryQuery.conversation_id == conversation_id)
        if before is not None:
            query = query.where(MemoryQuery.id < before)
        query = query.order_by(MemoryQuery.id.desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()
