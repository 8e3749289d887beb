"""Twin memory as a service: write facts and stories, retrieve, keep the query history.

Every write bumps the twin's memory version in the same transaction, so retrieval caches on
every instance see it. A fact whose subject matches a still-valid fact of the same twin
replaces it: the older one keeps its row, with ``valid_until`` and ``superseded_by`` set.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.ids import uuid7
from visavis.db.models import MemoryItem, MemoryQuery
from visavis.db.repositories.memory import MemoryQueryRepository, MemoryRepository
from visavis.db.repositories.twins import TwinRepository
from visavis.mind.embedding import Embedder, to_bytes
from visavis.mind.importing import export_line
from visavis.mind.memory_index import MemoryIndexCache
from visavis.mind.retrieval import Hit, HybridRetriever
from visavis.mind.schemas import FactIn, FactUpdate, ItemIn, StoryIn, StoryUpdate

#: ``progress(done, total)`` while a bulk write embeds and stores its items.
Progress = Callable[[int, int], None]
_BATCH = 256


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one write did."""

    created: list[MemoryItem]
    duplicates: int
    superseded: int


def search_text(row: MemoryItem) -> str:
    """The text full-text search indexes for an item."""
    parts = [row.title or "", row.text, row.subject or "", " ".join(row.tags or [])]
    return "\n".join(p for p in parts if p)


def embedding_text(row: MemoryItem) -> str:
    """The text an item's embedding is computed from."""
    return search_text(row)


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _text_of(item: ItemIn) -> str:
    return item.statement if isinstance(item, FactIn) else item.text


def to_row(item: ItemIn, *, twin_id: uuid.UUID, now: datetime) -> MemoryItem:
    """A new row for a validated item (no embedding yet)."""
    if isinstance(item, FactIn):
        row = MemoryItem(
            id=uuid7(),
            twin_id=twin_id,
            kind="fact",
            text=item.statement,
            subject=item.subject,
            source=item.source,
            tags=[],
            valid_from=item.valid_from or now,
            valid_until=item.valid_until,
        )
    else:
        row = MemoryItem(
            id=uuid7(),
            twin_id=twin_id,
            kind="story",
            title=item.title,
            text=item.text,
            tags=item.tags,
            source=item.source,
            happened_at=item.when,
            valid_from=now,
        )
    row.search_text = search_text(row)
    return row


def as_input(row: MemoryItem) -> ItemIn:
    """An item as importable input (for exports)."""
    if row.kind == "fact":
        return FactIn(
            statement=row.text,
            subject=row.subject,
            source=row.source,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
        )
    return StoryIn(
        title=row.title or row.text[:60],
        text=row.text,
        tags=list(row.tags or []),
        when=row.happened_at,
        source=row.source,
    )


class MindService:
    """Writes and reads twins' memory; one per instance."""

    def __init__(
        self, embedder: Embedder, *, cache_twins: int = 64, recheck_s: float = 1.0
    ) -> None:
        self.embedder = embedder
        self.cache = MemoryIndexCache(embedder, max_twins=cache_twins, recheck_s=recheck_s)
        self.retriever = HybridRetriever(embedder, self.cache)

    def embed_rows(self, rows: Sequence[MemoryItem]) -> None:
        vectors = self.embedder.embed([embedding_text(r) for r in rows])
        for row, vector in zip(rows, vectors, strict=True):
            row.embedding = to_bytes(vector)

    async def write(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        twin_id: uuid.UUID,
        items: Sequence[ItemIn],
        *,
        source_conversation_id: uuid.UUID | None = None,
        progress: Progress | None = None,
        restate_past: bool = False,
    ) -> WriteResult:
        """Store ``items`` in order (identical ones skipped, facts superseded by subject).

        An item identical to a stored one is skipped; with ``restate_past`` only still-valid
        ones count (a fact true again, e.g. moving back to a city). The caller commits: on
        any error nothing of the batch is kept.
        """
        await TwinRepository(session, tenant_id).get(twin_id)
        repo = MemoryRepository(session, tenant_id)
        now = datetime.now(UTC)
        texts = {_text_of(item).strip().lower() for item in items}
        seen = {
            (kind, _normal(text))
            for kind, text, valid_until in await repo.with_texts(twin_id, texts)
            if valid_until is None or not restate_past
        }
        subjects = {i.subject.lower() for i in items if isinstance(i, FactIn) and i.subject}
        current: dict[str, list[MemoryItem]] = {}
        for row in await repo.valid_facts_about_any(twin_id, subjects):
            current.setdefault((row.subject or "").lower(), []).append(row)
        rows: list[MemoryItem] = []
        duplicates = superseded = 0
        # Ids in item order, so "oldest first" is the order items were given in.
        ids = sorted(uuid7() for _ in items)
        for item, item_id in zip(items, ids, strict=True):
            row = to_row(item, twin_id=twin_id, now=now)
            row.id = item_id
            row.source_conversation_id = source_conversation_id
            key = (row.kind, _normal(row.text))
            if row.valid_until is None and key in seen:
                duplicates += 1
                continue
            seen.add(key)
            if row.kind == "fact" and row.subject and row.valid_until is None:
                for older in current.get(row.subject.lower(), []):
                    older.valid_until = row.valid_from
                    older.superseded_by = row.id
                    superseded += 1
                current[row.subject.lower()] = [row]
            rows.append(row)
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            self.embed_rows(batch)
            await repo.add_all(batch)
            if progress is not None:
                progress(start + len(batch), len(rows))
        if progress is not None and not rows:
            progress(0, 0)
        await session.flush()
        await TwinRepository(session, tenant_id).bump_memory_version(twin_id)
        self.cache.expire(twin_id)
        return WriteResult(rows, duplicates, superseded)

    async def update(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        twin_id: uuid.UUID,
        item_id: uuid.UUID,
        change: FactUpdate | StoryUpdate,
    ) -> MemoryItem:
        """Change an item in place (re-embedded and re-indexed); the caller commits."""
        kind = "fact" if isinstance(change, FactUpdate) else "story"
        row = await MemoryRepository(session, tenant_id).get(twin_id, item_id, kind)
        fields = change.model_dump(exclude_unset=True)
        if "statement" in fields:
            fields["text"] = fields.pop("statement")
        if "when" in fields:
            fields["happened_at"] = fields.pop("when")
        for name, value in fields.items():
            if name in ("text", "title") and value is None:
                continue
            setattr(row, name, value if name != "tags" else list(value or []))
        row.search_text = search_text(row)
        self.embed_rows([row])
        row.updated_at = datetime.now(UTC)
        await session.flush()
        await TwinRepository(session, tenant_id).bump_memory_version(twin_id)
        self.cache.expire(twin_id)
        return row

    async def delete(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        twin_id: uuid.UUID,
        item_id: uuid.UUID,
        kind: str,
    ) -> None:
        """Delete an item for good; the caller commits."""
        await MemoryRepository(session, tenant_id).delete(twin_id, item_id, kind)
        await TwinRepository(session, tenant_id).bump_memory_version(twin_id)
        self.cache.expire(twin_id)

    async def search(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        twin_id: uuid.UUID,
        question: str,
        *,
        limit: int = 5,
    ) -> list[Hit]:
        """Hybrid retrieval (see ``visavis.mind.retrieval``)."""
        return await self.retriever.search(session, tenant_id, twin_id, question, limit=limit)

    async def record_query(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        twin_id: uuid.UUID,
        *,
        question: str,
        retrieved: list[dict[str, object]],
        used: Sequence[str],
        answer: str,
        mode: str,
        conversation_id: uuid.UUID | None = None,
    ) -> MemoryQuery:
        """Keep one question and its answer in the history; the caller commits."""
        return await MemoryQueryRepository(session, tenant_id).add(
            MemoryQuery(
                twin_id=twin_id,
                conversation_id=conversation_id,
                question=question,
                retrieved=retrieved,
                used=list(used),
                answer=answer,
                mode=mode,
            )
        )

    async def export(
        self, session: AsyncSession, tenant_id: uuid.UUID, twin_id: uuid.UUID
    ) -> AsyncIterator[str]:
        """Every item as an importable JSONL line, oldest first, page by page."""
        await TwinRepository(session, tenant_id).get(twin_id)
        repo = MemoryRepository(session, tenant_id)
        after: uuid.UUID | None = None
        while True:
            rows = await repo.list(twin_id, after=after, limit=500)
            for row in rows:
                yield export_line(as_input(row)) + "\n"
            if len(rows) < 500:
                return
            after = rows[-1].id
