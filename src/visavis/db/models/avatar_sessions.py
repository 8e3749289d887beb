"""Provider avatar sessions (they cost money every minute) and their lifecycle events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from visavis.db.base import Base, UTCDateTime, utcnow
from visavis.db.ids import uuid7


class AvatarSession(Base):
    """One session at an avatar provider, from creation to stop."""

    __tablename__ = "avatar_sessions"
    __table_args__ = (Index("ix_avatar_sessions_status", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(20))
    provider_session_id: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(20), default="creating")
    quality: Mapped[str | None] = mapped_column(String(10), default=None)
    voice: Mapped[str | None] = mapped_column(String(200), default=None)
    avatar_id: Mapped[str | None] = mapped_column(String(200), default=None)
    browser_token_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    streaming_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    cost_microusd: Mapped[int] = mapped_column(BigInteger, default=0)
    stop_reason: Mapped[str | None] = mapped_column(String(50), default=None)


class AvatarSessionEvent(Base):
    """A lifecycle step or fallback of an avatar session, with its reason."""

    __tablename__ = "avatar_session_events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    avatar_session_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("avatar_sessions.id", ondelete="CASCADE"), index=True, default=None
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(String(50), default=None)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
