"""A twin that learns: facts the person states, extracted by the LLM, stored once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_compatible import FakeOpenAI
from visavis.agents.base import Message
from visavis.agents.twin import TwinAgent
from visavis.agents.twin_learning import parse_facts
from visavis.context import AppContext
from visavis.db.models import Conversation, Twin
from visavis.db.repositories.conversations import ConversationRepository
from visavis.db.repositories.memory import MemoryRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.repositories.twins import TwinRepository


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with fake.serve() as base_url:
        yield fake, base_url


def test_fact_lines_are_read_from_the_reply() -> None:
    reply = '- I have two sisters.\n2) "I live in Braga."\nNONE\nWhere do you live?\n\n'
    assert parse_facts(reply) == ["I have two sisters.", "I live in Braga."]
    assert parse_facts("NONE") == []
    assert len(parse_facts("\n".join(f"I own {n} cats." for n in range(9)))) == 5


async def _conversation(ctx: AppContext, base_url: str, *, learning: bool) -> Conversation:
    async with ctx.sessions() as session:
        tenant = await TenantRepository(session).create(name="acme")
        twin = await TwinRepository(session, tenant.id).add(
            Twin(
                name="Ana",
                llm={"base_url": base_url, "model": "fake-model"},
                learning=learning,
                memory_version=0,
            )
        )
        conversation = await ConversationRepository(session, tenant.id).add(
            Conversation(agent="twin", twin_id=twin.id)
        )
        await session.commit()
        return conversation


async def _say(agent: TwinAgent, text: str) -> str:
    reply = "".join([d async for d in agent.stream([Message("user", text)])])
    await agent.wait_learning()
    return reply


async def test_a_learning_twin_stores_stated_facts_once_with_their_conversation(
    ctx: AppContext, fake_llm: tuple[FakeOpenAI, str]
) -> None:
    fake, base_url = fake_llm
    fake.reset()
    fake.configure(
        replies=[
            "I have two sisters.\nI live in Braga.",
            "- I have two sisters.\n- I live in Braga",
        ]
    )
    conversation = await _conversation(ctx, base_url, learning=True)
    agent = ctx.agents.create("twin", conversation=conversation)
    assert isinstance(agent, TwinAgent)
    said = "I have two sisters, and last year I moved to Braga."
    reply = await _say(agent, said)
    assert "don't know" in reply  # nothing was known when it answered
    assert agent.learned == 2
    extraction = fake.requests[-1]["json"]["messages"]
    assert "first person" in extraction[0]["content"] and extraction[1]["content"] == said
    await _say(agent, said)  # the same facts again: already known
    assert agent.learned == 2
    assert conversation.twin_id is not None
    async with ctx.sessions() as session:
        rows = await MemoryRepository(session, conversation.tenant_id).list(
            conversation.twin_id, kind="fact"
        )
    assert [r.text for r in rows] == ["I have two sisters.", "I live in Braga."]
    assert {r.source for r in rows} == {"conversation"}
    assert {r.source_conversation_id for r in rows} == {conversation.id}
    answer = await _say(agent, "How many sisters do you have?")
    assert answer  # now answered by the LLM from the learned fact
    assert "I have two sisters." in fake.requests[-2]["json"]["messages"][0]["content"]
    await agent.aclose()
    fake.reset()


async def test_learning_is_off_by_default_and_a_failing_llm_does_not_stop_the_talk(
    ctx: AppContext, fake_llm: tuple[FakeOpenAI, str]
) -> None:
    fake, base_url = fake_llm
    fake.reset()
    quiet = await _conversation(ctx, base_url, learning=False)
    agent = ctx.agents.create("twin", conversation=quiet)
    assert isinstance(agent, TwinAgent)
    await _say(agent, "I have two sisters.")
    assert agent.learned == 0 and fake.requests == []
    assert quiet.twin_id is not None
    async with ctx.sessions() as session:
        twin = await TwinRepository(session, quiet.tenant_id).get(quiet.twin_id)
        twin.learning = True
        await session.commit()
    fake.configure(fail_status=500)
    learner = ctx.agents.create("twin", conversation=quiet)
    assert isinstance(learner, TwinAgent)
    reply = await _say(learner, "I have two sisters.")
    assert "don't know" in reply and learner.learned == 0
    await learner.aclose()
    fake.reset()
