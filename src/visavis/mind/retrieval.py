"""Hybrid retrieval: full-text rank fused with semantic rank, then recency and validity.

Reciprocal rank fusion (k = 60) joins the database's full-text ranking (FTS5's BM25 on
SQLite, ``ts_rank`` on PostgreSQL) with cosine similarity of WordLlama embeddings. A fact
that a newer one replaced keeps half its score; recent items get a small lift. Each hit
also carries a confidence (0..1) built from similarity and word overlap, which tells the
offline twin whether memory really holds an answer.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.repositories.memory import MemoryRepository
from visavis.db.repositories.twins import TwinRepository
from visavis.mind.embedding import Embedder
from visavis.mind.memory_index import IndexedItem, MemoryIndex, MemoryIndexCache
from visavis.mind.text import content_terms, stem

RRF_K = 60.0
CANDIDATES = 50
INVALID_FACTOR = 0.5
RECENCY_WEIGHT = 0.1
RECENCY_HALF_LIFE_DAYS = 3 * 365.0
#: A word in more items than this share (and this count) is left out of full-text search.
COMMON_TERM_SHARE = 0.05
COMMON_TERM_MIN_ITEMS = 50
#: Confidence = SEMANTIC_WEIGHT * similarity + (1 - SEMANTIC_WEIGHT) * word overlap.
SEMANTIC_WEIGHT = 0.3


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved item and why it ranks where it does."""

    item: IndexedItem
    score: float
    lexical_rank: int | None
    similarity: float
    overlap: float
    confidence: float


def _recency(item: IndexedItem, now: datetime) -> float:
    when = item.happened_at or item.valid_from
    age_days = max(0.0, (now - when).total_seconds() / 86400.0)
    return math.exp(-age_days * math.log(2) / RECENCY_HALF_LIFE_DAYS)


def _overlap(weights: dict[str, float], item: IndexedItem) -> float:
    """The share of the question's word weight (IDF) the item contains."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for s, w in weights.items() if s in item.stems) / total


def selective_terms(terms: list[str], index: MemoryIndex) -> list[str]:
    """The question's words that narrow the search: those few items contain.

    A word in more than ``COMMON_TERM_SHARE`` of a large memory barely moves a full-text
    rank, yet makes the database score thousands of rows; when every word is that common,
    the semantic half alone ranks.
    """
    limit = max(COMMON_TERM_MIN_ITEMS, COMMON_TERM_SHARE * len(index.items))
    return [t for t in terms if index.document_frequency.get(stem(t), 0) <= limit]


class HybridRetriever:
    """Retrieves a twin's memory items for a question."""

    def __init__(self, embedder: Embedder, cache: MemoryIndexCache) -> None:
        self.embedder = embedder
        self.cache = cache

    async def search(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        twin_id: uuid.UUID,
        question: str,
        *,
        limit: int = 5,
        now: datetime | None = None,
    ) -> list[Hit]:
        """The ``limit`` best items, best first; ``NotFoundError`` for another tenant's twin."""
        index = self.cache.fresh(tenant_id, twin_id)
        if index is None:
            version = await TwinRepository(session, tenant_id).memory_version(twin_id)
            index = await self.cache.get(session, tenant_id, twin_id, version)
        if not index.items:
            return []
        terms = content_terms(question)
        lexical = await MemoryRepository(session, tenant_id).lexical(
            twin_id, selective_terms(terms, index), CANDIDATES
        )
        query = self.embedder.embed([question])[0]
        # einsum runs on this thread: BLAS's worker threads make the tail slow on busy cores.
        similarity = np.einsum("ij,j->i", index.vectors, query)
        count = min(CANDIDATES, len(index.items))
        semantic = np.argpartition(-similarity, count - 1)[:count]
        semantic = semantic[np.argsort(-similarity[semantic])]
        scores: dict[int, float] = {}
        lexical_ranks: dict[int, int] = {}
        item_id: uuid.UUID
        for rank, item_id in enumerate(lexical):
            position = index.positions.get(item_id)
            if position is None:  # written after this index was read
                continue
            lexical_ranks[position] = rank
            scores[position] = scores.get(position, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, position in enumerate(semantic.tolist()):
            scores[position] = scores.get(position, 0.0) + 1.0 / (RRF_K + rank + 1)
        moment = now or datetime.now(UTC)
        weights = {stem(t): index.idf(stem(t)) for t in terms}
        hits = []
        for position, fused in scores.items():
            item = index.items[position]
            score = fused * (1.0 + RECENCY_WEIGHT * _recency(item, moment))
            if not item.valid:
                score *= INVALID_FACTOR
            cosine = float(max(0.0, similarity[position]))
            overlap = _overlap(weights, item)
            confidence = SEMANTIC_WEIGHT * cosine + (1.0 - SEMANTIC_WEIGHT) * overlap
            hits.append(Hit(item, score, lexical_ranks.get(position), cosine, overlap, confidence))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:limit]
