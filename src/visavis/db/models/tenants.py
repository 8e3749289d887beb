"""Tenants, their API keys and their preferences."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from visavis.db.base import Base, UTCDateTime, utcnow
from visavis.db.ids import uuid7


class Tenant(Base):
    """A customer of the deployment; every other row belongs to one."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """An API key: only its SHA-256 hash and a short public prefix are stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class TenantPreferences(Base):
    """Per-tenant defaults and monthly limits (``None`` = unlimited)."""

    __tablename__ = "tenant_preferences"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    avatar_enabled_default: Mapped[bool] = mapped_column(Boolean, default=False)
    default_avatar_id: Mapped[str | None] = mapped_column(String(200), default=None)
    default_provider: Mapped[str] = mapped_column(String(20), default="local")
    monthly_avatar_session_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    monthly_avatar_seconds_limit: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Money is stored in whole micro-dollars: exact, and atomic to update on every database.
    monthly_cost_limit_microusd: Mapped[int | None] = mapped_column(BigInteger, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
