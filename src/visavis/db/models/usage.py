"""Monthly usage counters per tenant, and the quota reservations that move them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from visavis.db.base import Base, UTCDateTime, utcnow
from visavis.db.ids import uuid7


class UsageMonth(Base):
    """A tenant's avatar usage in one UTC month (``period`` = ``YYYY-MM``).

    ``avatar_*`` totals include the estimates of sessions still running; ``reserved_*`` are those
    estimates alone (they become actual figures when the session is settled).
    """

    __tablename__ = "usage_months"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    avatar_sessions: Mapped[int] = mapped_column(Integer, default=0)
    avatar_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_microusd: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_sessions: Mapped[int] = mapped_column(Integer, default=0)
    reserved_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_cost_microusd: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuotaReservation(Base):
    """One admitted avatar session's claim on a month: reserved, then settled or released."""

    __tablename__ = "quota_reservations"
    __table_args__ = (Index("ix_quota_reservations_status_created_at", "status", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(10), default="reserved")
    estimated_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    estimated_cost_microusd: Mapped[int] = mapped_column(BigInteger, default=0)
    actual_seconds: Mapped[int | None] = mapped_column(BigInteger, default=None)
    cost_microusd: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
