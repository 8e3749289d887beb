"""Transcript entries of a conversation, in order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import TranscriptEntry


class TranscriptRepository:
    """Append and read the transcript of one conversation of one tenant."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def append(
        self,
        *,
        conversation_id: uuid.UUID,
        role: str,
        text: str,
        actual_start_ms: int | None = None,
        duration_ms: int | None = None,
        interrupted: bool = False,
    ) -> TranscriptEntry:
        seq = await self.session.scalar(
            select(func.coalesce(func.max(TranscriptEntry.seq), 0)).where(
                TranscriptEntry.conversation_id == conversation_id
            )
        )
        entry = TranscriptEntry(
            tenant_id=self.tenant_id,
            conversation_id=conversation_id,
            seq=int(seq or 0) + 1,
            role=role,
            text=text,
            actual_start_ms=actual_start_ms,
            duration_ms=duration_ms,
            interrupted=interrupted,
        )
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def list(self, conversation_id: uuid.UUID) -> Sequence[TranscriptEntry]:
        result = await self.session.execute(
            select(TranscriptEntry)
            .where(
                TranscriptEntry.conversation_id == conversation_id,
                TranscriptEntry.tenant_id == self.tenant_id,
            )
            .order_by(TranscriptEntry.seq)
        )
        return result.scalars().all()
