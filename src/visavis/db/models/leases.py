"""Which instance holds each live conversation: one owner at a time, across instances."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from visavis.db.base import Base, UTCDateTime, utcnow


class ConversationLease(Base):
    """The live connection of a conversation: the instance holding it and its epoch.

    Every new connection takes the lease over (``epoch`` + 1); the instance holding an older
    epoch closes its connection when it sees that. ``greeted`` is claimed once, by one epoch.
    """

    __tablename__ = "conversation_leases"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    instance_id: Mapped[str] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(Integer, default=1)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    greeted: Mapped[bool] = mapped_column(Boolean, default=False)
