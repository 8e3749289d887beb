"""Conversations (the user session tying agent and avatar together) and their transcripts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from visavis.db.base import Base, UTCDateTime, utcnow
from visavis.db.ids import uuid7


class Conversation(Base):
    """One conversation of a tenant's end user with an agent, with or without an avatar."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_tenant_status_id", "tenant_id", "status", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    user_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(20), default="created")
    agent: Mapped[str] = mapped_column(String(50))
    agent_plan: Mapped[str | None] = mapped_column(String(64), default=None)
    avatar_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    avatar_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    avatar_provider: Mapped[str | None] = mapped_column(String(20), default=None)
    avatar_id: Mapped[str | None] = mapped_column(String(200), default=None)
    avatar_quality: Mapped[str | None] = mapped_column(String(10), default=None)
    avatar_reason: Mapped[str | None] = mapped_column(String(50), default=None)
    avatar_detail: Mapped[str | None] = mapped_column(String(300), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    end_reason: Mapped[str | None] = mapped_column(String(50), default=None)
    last_client_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The avatar session's claim on the monthly quota: settled at avatar stop, released on a
    # failed start (see visavis.tenancy.quotas). No foreign key: SQLite cannot add one in place.
    quota_reservation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    #: The twin an ``agent="twin"`` conversation talks to (no foreign key, as above).
    twin_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    #: How long the person's silence ends their spoken turn, for this conversation; ``None``:
    #: the instance's ``stt_end_silence_ms``.
    end_silence_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Names and terms the person is likely to say, for the recognizer to spell as given.
    vocabulary: Mapped[list[str] | None] = mapped_column(JSON, default=None)


class TranscriptEntry(Base):
    """One utterance of a conversation, timed on the conversation's audio timeline."""

    __tablename__ = "transcript_entries"
    __table_args__ = (
        Index("ix_transcript_entries_conversation_seq", "conversation_id", "seq", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    actual_start_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
