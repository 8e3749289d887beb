"""Provider avatar sessions and their lifecycle events.

Stopping is claimed with a compare-and-set on the status, so however many instances (or the
conversation and the sweeper) try to stop a session at once, exactly one does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import utcnow
from visavis.db.ids import uuid7
from visavis.db.models import AvatarSession, AvatarSessionEvent, Conversation

OPEN_STATUSES = ("creating", "ready", "active")
#: A stop that was claimed but never finished (the instance died) is retried after this.
STALE_STOPPING = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SessionTotals:
    """What a conversation's provider sessions streamed and cost, all together."""

    streaming_seconds: float
    cost_microusd: int
    open_sessions: int


class AvatarSessionRepository:
    """Rows of ``avatar_sessions`` and ``avatar_session_events``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(
        self,
        *,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        provider: str,
        avatar_id: str | None,
        quality: str | None,
        voice: str | None,
    ) -> uuid.UUID:
        """A new ``creating`` row, in one statement (the hot path of an avatar start)."""
        row_id = uuid7()
        now = utcnow()
        await self.session.execute(
            insert(AvatarSession).values(
                id=row_id,
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                provider=provider,
                avatar_id=avatar_id,
                quality=quality,
                voice=voice,
                status="creating",
                created_at=now,
                streaming_seconds=0.0,
                cost_microusd=0,
            )
        )
        return row_id

    async def insert_event(
        self,
        *,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        avatar_session_id: uuid.UUID | None,
        kind: str,
        reason: str | None = None,
    ) -> None:
        """One lifecycle event, in one statement."""
        await self.session.execute(
            insert(AvatarSessionEvent).values(
                id=uuid7(),
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                avatar_session_id=avatar_session_id,
                kind=kind,
                reason=reason,
                created_at=utcnow(),
            )
        )

    async def get(self, avatar_session_id: uuid.UUID) -> AvatarSession | None:
        return await self.session.get(AvatarSession, avatar_session_id)

    async def mark_ready(
        self,
        avatar_session_id: uuid.UUID,
        *,
        provider_session_id: str,
        browser_token_encrypted: str | None,
        expires_at: datetime | None,
    ) -> None:
        now = utcnow()
        await self.session.execute(
            update(AvatarSession)
            .where(AvatarSession.id == avatar_session_id)
            .values(
                status="ready",
                provider_session_id=provider_session_id,
                browser_token_encrypted=browser_token_encrypted,
                started_at=now,
                expires_at=expires_at,
                last_activity_at=now,
            )
        )

    async def set_provider_session_id(
        self, avatar_session_id: uuid.UUID, provider_session_id: str
    ) -> None:
        """Remember the provider's id as soon as it exists, so a crash can't orphan it."""
        await self.session.execute(
            update(AvatarSession)
            .where(AvatarSession.id == avatar_session_id)
            .values(provider_session_id=provider_session_id)
        )

    async def touch(self, avatar_session_id: uuid.UUID) -> None:
        await self.session.execute(
            update(AvatarSession)
            .where(AvatarSession.id == avatar_session_id, AvatarSession.status.in_(OPEN_STATUSES))
            .values(status="active", last_activity_at=utcnow())
        )

    async def claim_stop(
        self, avatar_session_id: uuid.UUID, *, reason: str
    ) -> AvatarSession | None:
        """Take the right to stop this session; ``None`` if someone else has it or it's done."""
        now = utcnow()
        result = await self.session.execute(
            update(AvatarSession)
            .where(
                AvatarSession.id == avatar_session_id,
                or_(
                    AvatarSession.status.in_(OPEN_STATUSES),
                    and_(
                        AvatarSession.status == "stopping",
                        AvatarSession.last_activity_at < now - STALE_STOPPING,
                    ),
                ),
            )
            .values(status="stopping", stop_reason=reason, last_activity_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return None
        row = await self.session.get(AvatarSession, avatar_session_id)
        if row is not None:
            await self.session.refresh(row)
        return row

    async def finish_stop(
        self,
        avatar_session_id: uuid.UUID,
        *,
        status: str,
        streaming_seconds: float,
        cost_microusd: int,
    ) -> None:
        await self.session.execute(
            update(AvatarSession)
            .where(AvatarSession.id == avatar_session_id, AvatarSession.status == "stopping")
            .values(
                status=status,
                stopped_at=utcnow(),
                streaming_seconds=streaming_seconds,
                cost_microusd=cost_microusd,
                browser_token_encrypted=None,
            )
        )

    async def add_event(
        self,
        *,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        avatar_session_id: uuid.UUID | None,
        kind: str,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AvatarSessionEvent(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                avatar_session_id=avatar_session_id,
                kind=kind,
                reason=reason,
                detail=detail,
            )
        )
        await self.session.flush()

    async def for_conversation(self, conversation_id: uuid.UUID) -> Sequence[AvatarSession]:
        result = await self.session.execute(
            select(AvatarSession)
            .where(AvatarSession.conversation_id == conversation_id)
            .order_by(AvatarSession.id)
        )
        return result.scalars().all()

    async def open_for_conversation(self, conversation_id: uuid.UUID) -> AvatarSession | None:
        """The newest session that is up (or coming up) for this conversation."""
        result = await self.session.execute(
            select(AvatarSession)
            .where(
                AvatarSession.conversation_id == conversation_id,
                AvatarSession.status.in_(OPEN_STATUSES),
            )
            .order_by(AvatarSession.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def totals(self, conversation_id: uuid.UUID) -> SessionTotals:
        row = (
            await self.session.execute(
                select(
                    func.coalesce(func.sum(AvatarSession.streaming_seconds), 0.0),
                    func.coalesce(func.sum(AvatarSession.cost_microusd), 0),
                    func.count().filter(AvatarSession.status.in_((*OPEN_STATUSES, "stopping"))),
                ).where(AvatarSession.conversation_id == conversation_id)
            )
        ).one()
        return SessionTotals(float(row[0]), int(row[1]), int(row[2]))

    async def events(self, conversation_id: uuid.UUID) -> Sequence[AvatarSessionEvent]:
        result = await self.session.execute(
            select(AvatarSessionEvent)
            .where(AvatarSessionEvent.conversation_id == conversation_id)
            .order_by(AvatarSessionEvent.id)
        )
        return result.scalars().all()

    async def orphans(
        self, *, client_timeout: timedelta, limit: int = 100
    ) -> Sequence[tuple[AvatarSession, str]]:
        """Open sessions nobody uses any more, each with why: the sweeper's work list.

        On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED`` so instances sweeping at
        the same time split the work; the stop itself is claimed by ``claim_stop``.
        """
        now = utcnow()
        seen = func.coalesce(Conversation.last_client_seen_at, AvatarSession.created_at)
        stale_stopping = and_(
            AvatarSession.status == "stopping",
            AvatarSession.last_activity_at < now - STALE_STOPPING,
        )
        query = (
            select(AvatarSession, Conversation.status)
            .join(Conversation, Conversation.id == AvatarSession.conversation_id)
            .where(
                or_(AvatarSession.status.in_(OPEN_STATUSES), stale_stopping),
                or_(
                    Conversation.status == "ended",
                    seen < now - client_timeout,
                    AvatarSession.expires_at < now,
                    stale_stopping,
                ),
            )
            .order_by(AvatarSession.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=AvatarSession, skip_locked=True)
        found: list[tuple[AvatarSession, str]] = []
        for row, conversation_status in (await self.session.execute(query)).all():
            if conversation_status == "ended":
                reason = "conversation_ended"
            elif row.status == "stopping":
                reason = "stop_retried"
            elif row.expires_at is not None and row.expires_at < now:
                reason = "max_duration"
            else:
                reason = "client_gone"
            found.append((row, reason))
        return found

    async def known_provider_ids(self, provider: str, ids: Sequence[str]) -> dict[str, str]:
        """For provider session ids: ``open`` when a row here still manages it, else ``closed``."""
        if not ids:
            return {}
        result = await self.session.execute(
            select(AvatarSession.provider_session_id, AvatarSession.status).where(
                AvatarSession.provider == provider, AvatarSession.provider_session_id.in_(ids)
            )
        )
        known: dict[str, str] = {}
        for provider_id, status in result.all():
            managed = status in (*OPEN_STATUSES, "stopping")
            if managed or str(provider_id) not in known:
                known[str(provider_id)] = "open" if managed else "closed"
        return known
