from __future__ import annotations

import pytest

import visavis.agents as agents_package
from visavis.agents import (
    Agent,
    AgentRegistry,
    InterviewerAgent,
    OpenAICompatibleAgent,
    OpenAICompatibleOptions,
    UnknownAgent,
    register_builtin_agents,
)
from visavis.agents.plans import parse_plan
from visavis.errors import InvalidInputError

PLAN = parse_plan(
    {"title": "T", "role": "R", "greeting": "Hi.", "questions": [{"text": "Q?"}], "closing": "Bye."}
)


def test_builtin_agents_register_by_name() -> None:
    registry = AgentRegistry()
    assert registry.names() == []
    register_builtin_agents(registry)
    assert registry.names() == ["interviewer"]
    agent = registry.create("interviewer", plan=PLAN, tenant_id="ignored")
    assert isinstance(agent, InterviewerAgent)
    assert agent.plan == PLAN
    assert isinstance(registry.create("interviewer"), InterviewerAgent)


async def test_openai_agent_takes_a_per_conversation_prompt() -> None:
    registry = AgentRegistry()
    options = OpenAICompatibleOptions(
        base_url="http://127.0.0.1:9/v1", model="m", system_prompt="default"
    )
    register_builtin_agents(registry, openai=options)
    assert registry.names() == ["interviewer", "openai"]
    agent = registry.create("openai", system_prompt="You are Lena's digital twin.")
    assert isinstance(agent, OpenAICompatibleAgent)
    assert agent.options.system_prompt == "You are Lena's digital twin."
    plain = registry.create("openai")
    assert isinstance(plain, OpenAICompatibleAgent)
    assert plain.options.system_prompt == "default"
    await agent.aclose()


def test_unknown_name_lists_what_exists() -> None:
    registry = AgentRegistry()
    register_builtin_agents(registry)
    with pytest.raises(UnknownAgent, match="interviewer") as caught:
        registry.create("gpt-9")
    assert isinstance(caught.value, InvalidInputError)
    assert "gpt-9" not in registry


def test_names_are_taken_once_unless_replaced() -> None:
    registry = AgentRegistry()

    def factory(**_: object) -> Agent:
        return InterviewerAgent(PLAN)

    registry.register("mine", factory)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("mine", factory)
    registry.register("mine", factory, replace=True)
    assert "mine" in registry


def test_public_names_match_all() -> None:
    exported = {name for name in dir(agents_package) if not name.startswith("_")}
    modules = {
        "base",
        "errors",
        "interview_flow",
        "interviewer",
        "openai_compatible",
        "plans",
        "registry",
        "twin",
        "twin_learning",
        "twin_memory",
        "twin_offline",
    }
    assert exported - modules == set(agents_package.__all__)
