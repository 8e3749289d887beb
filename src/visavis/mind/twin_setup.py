"""A twin's memory as one conversation sees it, and the setup its agent is built from."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.agents.openai_compatible import OpenAICompatibleOptions
from visavis.agents.twin import TwinSetup
from visavis.agents.twin_memory import Persona, Recall, Recollection
from visavis.db.models import Twin
from visavis.db.repositories.twins import TwinRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.mind.retrieval import Hit
from visavis.mind.schemas import FactIn
from visavis.mind.service import MindService
from visavis.tenancy.crypto import SecretBox

#: A learned statement this similar to a stored, valid item is already known.
NEAR_DUPLICATE = 0.92


def recollection(hit: Hit) -> Recollection:
    item = hit.item
    return Recollection(
        id=str(item.id),
        kind="fact" if item.kind == "fact" else "story",
        text=item.text,
        title=item.title,
        tags=item.tags,
        happened_at=item.happened_at,
        valid=item.valid,
        score=round(hit.score, 6),
        confidence=round(hit.confidence, 4),
    )


def retrieved_summary(recall: Recall) -> list[dict[str, Any]]:
    """What the query history keeps of a recall."""
    return [
        {"id": i.id, "kind": i.kind, "score": i.score, "confidence": i.confidence}
        for i in recall.items
    ]


class ConversationMemory:
    """``TwinMemory`` of one twin, for one conversation (or none, for ``/ask``)."""

    def __init__(
        self,
        mind: MindService,
        sessions: async_sessionmaker[AsyncSession],
        *,
        tenant_id: uuid.UUID,
        twin_id: uuid.UUID,
        conversation_id: uuid.UUID | None = None,
        switch_role: bool = True,
    ) -> None:
        self.mind = mind
        self.sessions = sessions
        self.tenant_id = tenant_id
        self.twin_id = twin_id
        self.conversation_id = conversation_id
        self.switch_role = switch_role

    async def _session(self) -> AsyncSession:
        session = self.sessions()
        await scope_to_tenant(session, self.tenant_id, switch_role=self.switch_role)
        return session

    async def recall(self, question: str, *, limit: int = 5) -> Recall:
        async with await self._session() as session:
            hits = await self.mind.search(
                session, self.tenant_id, self.twin_id, question, limit=limit
            )
        return Recall(question, tuple(recollection(h) for h in hits))

    async def record(self, recall: Recall, *, used: Sequence[str], answer: str, mode: str) -> None:
        async with await self._session() as session:
            await self.mind.record_query(
                session,
                self.tenant_id,
                self.twin_id,
                question=recall.question,
                retrieved=retrieved_summary(recall),
                used=used,
                answer=answer,
                mode=mode,
                conversation_id=self.conversation_id,
            )
            await session.commit()

    async def learn(self, statements: Sequence[str]) -> int:
        """Store new facts, skipping any close to a known one (cosine ≥ ``NEAR_DUPLICATE``)."""
        async with await self._session() as session:
            facts = []
            for statement in statements:
                if not statement.strip():
                    continue
                hits = await self.mind.search(
                    session, self.tenant_id, self.twin_id, statement, limit=5
                )
                if any(h.item.valid and h.similarity >= NEAR_DUPLICATE for h in hits):
                    continue
                facts.append(FactIn(statement=statement, source="conversation"))
            if not facts:
                return 0
            result = await self.mind.write(
                session,
                self.tenant_id,
                self.twin_id,
                facts,
                source_conversation_id=self.conversation_id,
            )
            await session.commit()
        return len(result.created)


def llm_options(twin: Twin, box: SecretBox) -> OpenAICompatibleOptions | None:
    """The twin's LLM settings, with its key decrypted; ``None`` for the offline twin."""
    if not twin.llm:
        return None
    key = box.decrypt(twin.llm_api_key_encrypted) if twin.llm_api_key_encrypted else ""
    return OpenAICompatibleOptions(
        base_url=str(twin.llm["base_url"]),
        model=str(twin.llm["model"]),
        api_key=key,
        temperature=twin.llm.get("temperature"),
        max_tokens=twin.llm.get("max_tokens"),
    )


def persona(twin: Twin) -> Persona:
    return Persona(name=twin.name, bio=twin.bio, speaking_style=twin.speaking_style)


async def load_twin_setup(
    mind: MindService,
    sessions: async_sessionmaker[AsyncSession],
    box: SecretBox,
    *,
    tenant_id: uuid.UUID,
    twin_id: uuid.UUID,
    conversation_id: uuid.UUID | None = None,
    switch_role: bool = True,
) -> TwinSetup:
    """Read the twin (``NotFoundError`` for another tenant's) and bind its memory."""
    async with sessions() as session:
        await scope_to_tenant(session, tenant_id, switch_role=switch_role)
        twin = await TwinRepository(session, tenant_id).get(twin_id)
        setup_persona, llm, learning = persona(twin), llm_options(twin, box), twin.learning
    memory = ConversationMemory(
        mind,
        sessions,
        tenant_id=tenant_id,
        twin_id=twin_id,
        conversation_id=conversation_id,
        switch_role=switch_role,
    )
    return TwinSetup(
        persona=setup_persona, memory=memory, llm=llm, learning=learning and llm is not None
    )
