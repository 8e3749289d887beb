"""What the twin agent needs from a memory, without knowing where it is kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

ItemKind = Literal["fact", "story"]


@dataclass(frozen=True, slots=True)
class Recollection:
    """One memory item retrieved for a question, with how well it matches."""

    id: str
    kind: ItemKind
    text: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    happened_at: datetime | None = None
    #: False for a fact a newer one has replaced.
    valid: bool = True
    #: Fused rank score (higher is better); comparable within one recall only.
    score: float = 0.0
    #: 0..1: how sure retrieval is that this item is about the question.
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class Recall:
    """The items retrieved for one question, best first."""

    question: str
    items: tuple[Recollection, ...] = field(default_factory=tuple)

    def confident(self, threshold: float) -> list[Recollection]:
        """The items at least ``threshold`` sure, best first."""
        return [item for item in self.items if item.confidence >= threshold]


@dataclass(frozen=True, slots=True)
class Persona:
    """Who the twin is and how it speaks."""

    name: str
    bio: str = ""
    speaking_style: str = ""


class TwinMemory(Protocol):
    """A twin's memory as one conversation sees it."""

    async def recall(self, question: str, *, limit: int = 5) -> Recall:
        """The items best matching ``question``."""
        ...

    async def record(self, recall: Recall, *, used: Sequence[str], answer: str, mode: str) -> None:
        """Keep the question, what was retrieved and used, and the answer given."""
        ...

    async def learn(self, statements: Sequence[str]) -> int:
        """Store new facts stated in the conversation (deduplicated); returns how many."""
        ...
