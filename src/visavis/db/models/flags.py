"""Feature flags, their per-tenant states (overrides, beta) and the record of every change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from visavis.db.base import Base, UTCDateTime, utcnow
from visavis.db.ids import uuid7


class FeatureFlag(Base):
    """A flag's global switch, rollout percentage and kill switch (no row = the defaults)."""

    __tablename__ = "feature_flags"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    rollout_percent: Mapped[int] = mapped_column(Integer, default=100)
    kill_switch: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100), default=None)


class FeatureFlagTenant(Base):
    """One tenant's standing for one flag: ``on``/``off`` overrides, or ``beta``."""

    __tablename__ = "feature_flag_tenants"

    flag_name: Mapped[str] = mapped_column(
        String(50), ForeignKey("feature_flags.name", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    state: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100), default=None)


class FeatureFlagChange(Base):
    """Who changed what in a flag, and when (kept when the tenant or flag is gone)."""

    __tablename__ = "feature_flag_changes"
    __table_args__ = (Index("ix_feature_flag_changes_flag_name_id", "flag_name", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    flag_name: Mapped[str] = mapped_column(String(50))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    actor: Mapped[str] = mapped_column(String(100))
    change: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
