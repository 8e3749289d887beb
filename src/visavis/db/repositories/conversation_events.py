"""State events and turn metrics of live conversations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import ConversationEvent, ConversationTurn


class ConversationEventRepository:
    """Append and read the events and turns of a tenant's conversations."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def add_event(
        self,
        *,
        conversation_id: uuid.UUID,
        kind: str,
        at_ms: int,
        from_state: str | None = None,
        to_state: str | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> ConversationEvent:
        event = ConversationEvent(
            tenant_id=self.tenant_id,
            conversation_id=conversation_id,
            kind=kind,
            at_ms=at_ms,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            detail=detail,
        )
        self.session.add(event)
        await self.session.flush()
        return event

    async def events(self, conversation_id: uuid.UUID) -> Sequence[ConversationEvent]:
        result = await self.session.execute(
            select(ConversationEvent)
            .where(
                ConversationEvent.conversation_id == conversation_id,
                ConversationEvent.tenant_id == self.tenant_id,
            )
            .order_by(ConversationEvent.id)
        )
        return result.scalars().all()

    async def next_turn_seq(self, conversation_id: uuid.UUID) -> int:
        current = await self.session.scalar(
            select(func.coalesce(func.max(ConversationTurn.seq), 0)).where(
                ConversationTurn.conversation_id == conversation_id
            )
        )
        return int(current or 0) + 1

    async def add_turn(self, turn: ConversationTurn) -> ConversationTurn:
        turn.tenant_id = self.tenant_id
        self.session.add(turn)
        await self.session.flush()
        return turn

    async def turns(self, conversation_id: uuid.UUID) -> Sequence[ConversationTurn]:
        result = await self.session.execute(
            select(ConversationTurn)
            .where(
                ConversationTurn.conversation_id == conversation_id,
                ConversationTurn.tenant_id == self.tenant_id,
            )
            .order_by(ConversationTurn.seq)
        )
        return result.scalars().all()
