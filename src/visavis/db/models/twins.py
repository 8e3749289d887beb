"""Digital twins and their memory: facts, stories and the questions they were asked."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from visavis.db.base import Base, UTCDateTime, utcnow
from visavis.db.ids import uuid7


class Twin(Base):
    """A person's twin: persona, the LLM that may write its answers, its voice and avatar."""

    __tablename__ = "twins"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    bio: Mapped[str] = mapped_column(Text, default="")
    speaking_style: Mapped[str] = mapped_column(Text, default="")
    #: ``{"base_url", "model", "temperature"}`` or ``None`` for the offline twin.
    llm: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: The LLM's key, encrypted at rest (``SecretBox``); never returned by the API.
    llm_api_key_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    #: ``"bundled"`` or the id of a voice profile.
    voice: Mapped[str] = mapped_column(String(100), default="bundled")
    #: ``{"provider", "avatar_id"}`` or ``None`` (the tenant's defaults).
    avatar: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    learning: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Names and terms its visitors are likely to say; its conversations' recognizer expects
    #: them (copied into each conversation when it is created).
    vocabulary: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    #: Bumped by every change of the memory: retrieval caches compare it.
    memory_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MemoryItem(Base):
    """One fact (``kind="fact"``) or story (``kind="story"``) of a twin's memory.

    A fact that a newer one contradicts keeps its row with ``valid_until`` set and
    ``superseded_by`` naming the newer fact.
    """

    __tablename__ = "memory_items"
    __table_args__ = (Index("ix_memory_items_twin_kind", "twin_id", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    twin_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("twins.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str | None] = mapped_column(String(300), default=None)
    text: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(200), default=None)
    source: Mapped[str | None] = mapped_column(String(300), default=None)
    source_conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    happened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    superseded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    #: What lexical search indexes (title, text, subject, tags), kept by the repository.
    search_text: Mapped[str] = mapped_column(Text, default="")
    #: The unit-length embedding, float16 little-endian.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MemoryQuery(Base):
    """One question asked to a twin: what was retrieved, what was used, what it answered."""

    __tablename__ = "memory_queries"
    __table_args__ = (Index("ix_memory_queries_twin_id_id", "twin_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    twin_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("twins.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    question: Mapped[str] = mapped_column(Text)
    #: ``[{"id", "kind", "score"}]``, best first.
    retrieved: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: Ids of the items the answer was built from.
    used: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text, default="")
    #: ``"offline"`` or ``"llm"``.
    mode: Mapped[str] = mapped_column(String(10), default="offline")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
