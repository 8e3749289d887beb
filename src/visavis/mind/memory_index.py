"""A twin's memory held in RAM for semantic search: vectors, words and dates of every item.

Loaded from the database once per memory version (every write bumps the twin's version), so
any number of instances stay consistent: each compares versions before using its copy.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.repositories.memory import MemoryRepository
from visavis.mind.embedding import Embedder, from_bytes
from visavis.mind.text import stems

_PAGE = 2000


@dataclass(frozen=True, slots=True)
class IndexedItem:
    """What retrieval and answers need of one item."""

    id: uuid.UUID
    kind: str
    title: str | None
    text: str
    tags: tuple[str, ...]
    happened_at: datetime | None
    valid_from: datetime
    valid: bool
    stems: frozenset[str]


@dataclass(frozen=True, slots=True)
class MemoryIndex:
    """Every item of one twin at one memory version."""

    version: int
    items: tuple[IndexedItem, ...]
    vectors: npt.NDArray[np.float32]
    positions: dict[uuid.UUID, int]
    #: How many items contain each stem (for the weight of a question's words).
    document_frequency: dict[str, int]

    def idf(self, stem: str) -> float:
        """Inverse document frequency: a word no item contains weighs the most."""
        count = len(self.items)
        return math.log((count + 1) / (self.document_frequency.get(stem, 0) + 1)) + 1.0


def indexed(row: Any) -> IndexedItem:
    """The in-memory view of an item (a ``MemoryItem`` or a row of its columns)."""
    return IndexedItem(
        id=row.id,
        kind=row.kind,
        title=row.title,
        text=row.text,
        tags=tuple(row.tags or ()),
        happened_at=row.happened_at,
        valid_from=row.valid_from,
        valid=row.valid_until is None,
        stems=frozenset(stems(row.search_text)),
    )


async def load_index(
    session: AsyncSession, tenant_id: uuid.UUID, twin_id: uuid.UUID, version: int, dim: int
) -> MemoryIndex:
    """Read every item of the twin, page by page."""
    repo = MemoryRepository(session, tenant_id)
    items: list[IndexedItem] = []
    vectors: list[npt.NDArray[np.float32]] = []
    after: uuid.UUID | None = None
    while True:
        rows = await repo.index_rows(twin_id, after=after, limit=_PAGE)
        for row in rows:
            items.append(indexed(row))
            vectors.append(from_bytes(row.embedding or b"", dim))
        if len(rows) < _PAGE:
            break
        after = rows[-1].id
    matrix = np.vstack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
    frequency: Counter[str] = Counter()
    for item in items:
        frequency.update(item.stems)
    return MemoryIndex(
        version=version,
        items=tuple(items),
        vectors=matrix.astype(np.float32, copy=False),
        positions={item.id: i for i, item in enumerate(items)},
        document_frequency=dict(frequency),
    )


class MemoryIndexCache:
    """The latest index of the most recently used twins (bounded)."""

    def __init__(self, embedder: Embedder, *, max_twins: int = 64, recheck_s: float = 1.0) -> None:
        self.embedder = embedder
        self.max_twins = max_twins
        #: How long an index is used without asking the database for the twin's version.
        self.recheck_s = recheck_s
        self._indexes: OrderedDict[uuid.UUID, MemoryIndex] = OrderedDict()
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        #: twin id → (tenant id, monotonic time its version was last confirmed).
        self._confirmed: dict[uuid.UUID, tuple[uuid.UUID, float]] = {}

    def fresh(self, tenant_id: uuid.UUID, twin_id: uuid.UUID) -> MemoryIndex | None:
        """The index when its version was confirmed for this tenant less than
        ``recheck_s`` ago, else ``None`` (ask the database)."""
        confirmed = self._confirmed.get(twin_id)
        index = self._indexes.get(twin_id)
        if confirmed is None or index is None or confirmed[0] != tenant_id:
            return None
        if time.monotonic() - confirmed[1] >= self.recheck_s:
            return None
        return index

    def expire(self, twin_id: uuid.UUID) -> None:
        """Make the next question confirm the version (this instance changed the memory)."""
        self._confirmed.pop(twin_id, None)

    async def get(
        self, session: AsyncSession, tenant_id: uuid.UUID, twin_id: uuid.UUID, version: int
    ) -> MemoryIndex:
        """The index at ``version``, loaded when the cached one is older."""
        self._confirmed[twin_id] = (tenant_id, time.monotonic())
        cached = self._indexes.get(twin_id)
        if cached is not None and cached.version == version:
            self._indexes.move_to_end(twin_id)
            return cached
        lock = self._locks.setdefault(twin_id, asyncio.Lock())
        async with lock:
            cached = self._indexes.get(twin_id)
            if cached is not None and cached.version == version:
                return cached
            index = await load_index(session, tenant_id, twin_id, version, self.embedder.dim)
            self._indexes[twin_id] = index
            self._indexes.move_to_end(twin_id)
            while len(self._indexes) > self.max_twins:
                evicted, _ = self._indexes.popitem(last=False)
                self._locks.pop(evicted, None)
                self._confirmed.pop(evicted, None)
            return index

    def forget(self, twin_id: uuid.UUID) -> None:
        """Drop a twin's index (it was deleted)."""
        self._indexes.pop(twin_id, None)
        self._locks.pop(twin_id, None)
        self._confirmed.pop(twin_id, None)
