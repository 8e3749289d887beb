"""The twin agent as a conversation gets it from the registry, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from visavis.agents.base import Message
from visavis.agents.errors import AgentError
from visavis.agents.twin import TwinAgent, system_prompt
from visavis.agents.twin_memory import Persona, Recollection
from visavis.agents.twin_offline import DONT_KNOW, small_talk
from visavis.context import AppContext
from visavis.db.models import Conversation, Twin
from visavis.db.repositories.conversations import ConversationRepository
from visavis.db.repositories.memory import MemoryQueryRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.repositories.twins import TwinRepository
from visavis.mind.schemas import FactIn, StoryIn


async def _conversation_with_twin(ctx: AppContext) -> Conversation:
    assert ctx.mind is not None
    async with ctx.sessions() as session:
        tenant = await TenantRepository(session).create(name="acme")
        twin = await TwinRepository(session, tenant.id).add(
            Twin(name="Maya", speaking_style="warm", memory_version=0)
        )
        await ctx.mind.write(
            session,
            tenant.id,
            twin.id,
            [
                FactIn(statement="I grew up in Manchester after we left Enugu."),
                StoryIn(
                    title="The robot that stopped",
                    text="Our pharmacy robot froze in a busy corridor. A nurse pushed the "
                    "red button and walked around it. We redesigned everything after that. "
                    "This fourth sentence is not spoken.",
                    tags=["work", "robots"],
                ),
            ],
        )
        conversation = await ConversationRepository(session, tenant.id).add(
            Conversation(agent="twin", twin_id=twin.id)
        )
        await session.commit()
        return conversation


async def _reply(agent: TwinAgent, text: str) -> list[str]:
    return [delta async for delta in agent.stream([Message("user", text)])]


async def test_the_registry_builds_the_twin_of_a_conversation_and_records_its_questions(
    ctx: AppContext,
) -> None:
    conversation = await _conversation_with_twin(ctx)
    agent = ctx.agents.create("twin", conversation=conversation)
    assert isinstance(agent, TwinAgent)
    deltas = await _reply(agent, "Where did you grow up?")
    assert len(deltas) > 3 and all(deltas)  # streamed word by word, never empty
    answer = "".join(deltas)
    assert "I grew up in Manchester after we left Enugu." in answer
    story = "".join(await _reply(agent, "Tell me about the time your robot froze"))
    assert "nurse pushed the red button" in story and "fourth sentence" not in story
    unknown = "".join(await _reply(agent, "What is your favourite cocktail?"))
    assert unknown in DONT_KNOW
    await agent.aclose()
    async with ctx.sessions() as session:
        rows = await MemoryQueryRepository(session, conversation.tenant_id).list(
            conversation.twin_id or uuid.uuid4(), conversation_id=conversation.id
        )
    assert [r.question for r in rows][::-1] == [
        "Where did you grow up?",
        "Tell me about the time your robot froze",
        "What is your favourite cocktail?",
    ]
    assert rows[-1].answer == answer and len(rows[-1].used) == 1 and rows[0].used == []
    assert all(r.mode == "offline" and r.retrieved for r in rows)


async def test_a_twin_conversation_without_its_twin_is_refused(ctx: AppContext) -> None:
    with pytest.raises(AgentError, match='"twin": "<twin id>"'):
        ctx.agents.create("twin")
    with pytest.raises(AgentError):
        ctx.agents.create("twin", conversation=Conversation(agent="twin"))


def test_small_talk_and_the_llm_prompt_keep_to_the_persona_and_the_memory() -> None:
    persona = Persona(name="Maya", bio="Designs robots.", speaking_style="dry humour")
    assert small_talk(persona, "Hello!") == (
        "Hi, I'm Maya. Ask me anything about my life and work."
    )
    assert small_talk(persona, "Hello, where were you born?") is None
    old = Recollection(id="1", kind="fact", text="I live in Porto.", valid=False)
    story = Recollection(id="2", kind="story", text="We met in the rain.", title="Meeting Inês")
    prompt = system_prompt(persona, [old, story])
    assert "You are Maya" in prompt and "dry humour" in prompt and "Designs robots." in prompt
    assert "[1] fact [no longer true]: I live in Porto." in prompt
    assert "[2] story 'Meeting Inês': We met in the rain." in prompt
    assert "don't know" in prompt
    assert "nothing relevant" in system_prompt(persona, [])
