"""Voice profiles: the samples a cloned voice is made from, and the speaker's consent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from visavis.db.base import Base, UTCDateTime, utcnow
from visavis.db.ids import uuid7


class VoiceProfile(Base):
    """A voice being collected (and, later, cloned) for one person."""

    __tablename__ = "voice_profiles"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    #: collecting → queued → running → ready | failed (a failed job can be started again).
    status: Mapped[str] = mapped_column(String(20), default="collecting")
    backend: Mapped[str | None] = mapped_column(String(20), default=None)
    provider_voice_id: Mapped[str | None] = mapped_column(String(300), default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(100), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class VoiceSample(Base):
    """One validated recording: 16 kHz mono PCM16, its measurements and transcript."""

    __tablename__ = "voice_samples"
    __table_args__ = (Index("ix_voice_samples_profile_id", "profile_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    profile_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("voice_profiles.id", ondelete="CASCADE")
    )
    pcm16: Mapped[bytes] = mapped_column(LargeBinary)
    duration_s: Mapped[float] = mapped_column(Float)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    transcript: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VoiceConsent(Base):
    """Who agreed, when, and to which text, before their voice may be cloned."""

    __tablename__ = "voice_consents"
    __table_args__ = (Index("ix_voice_consents_profile_id", "profile_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    profile_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("voice_profiles.id", ondelete="CASCADE")
    )
    person_name: Mapped[str] = mapped_column(String(200))
    consent_text: Mapped[str] = mapped_column(Text)
    #: The API key (its prefix) that recorded the consent.
    recorded_by: Mapped[str] = mapped_column(String(20))
    agreed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
