"""Agents by name: the app factory registers factories, each conversation creates its agent.

Built-in agents register exactly like any other; nothing is registered at import.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable
from typing import Any, Protocol

from visavis.agents.base import Agent
from visavis.agents.errors import AgentError, UnknownAgent
from visavis.agents.interviewer import InterviewerAgent, InterviewerOptions
from visavis.agents.openai_compatible import OpenAICompatibleAgent, OpenAICompatibleOptions
from visavis.agents.plans import InterviewPlan
from visavis.agents.twin import TwinAgent, TwinAgentOptions, TwinSetup


class AgentFactory(Protocol):
    """Builds one agent for one conversation; ignores context keys it does not use."""

    def __call__(self, **context: Any) -> Agent: ...


class AgentRegistry:
    """Factories keyed by agent name."""

    def __init__(self) -> None:
        self._factories: dict[str, AgentFactory] = {}

    def register(self, name: str, factory: AgentFactory, *, replace: bool = False) -> None:
        """Make ``name`` available; registering a taken name needs ``replace=True``."""
        if not name or name != name.strip():
            raise ValueError(f"invalid agent name {name!r}")
        if name in self._factories and not replace:
            raise ValueError(f"an agent named {name!r} is already registered")
        self._factories[name] = factory

    def create(self, name: str, **context: Any) -> Agent:
        """A new agent ``name`` for one conversation; raises ``UnknownAgent``."""
        factory = self._factories.get(name)
        if factory is None:
            known = ", ".join(self.names()) or "none"
            raise UnknownAgent(f"no agent named {name!r} (available: {known})")
        return factory(**context)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories


def register_builtin_agents(
    registry: AgentRegistry,
    *,
    interviewer: InterviewerOptions | None = None,
    openai: OpenAICompatibleOptions | None = None,
) -> None:
    """Register ``interviewer`` (always) and ``openai`` (when its options are given).

    Context understood: ``plan`` (an ``InterviewPlan``) for the interviewer, and
    ``system_prompt`` (a per-conversation persona) for the openai agent.
    """
    interviewer_options = interviewer if interviewer is not None else InterviewerOptions()

    def make_interviewer(*, plan: InterviewPlan | None = None, **_: Any) -> Agent:
        return InterviewerAgent(plan, options=interviewer_options)

    registry.register(InterviewerAgent.name, make_interviewer)
    if openai is None:
        return
    openai_options = openai

    def make_openai(*, system_prompt: str | None = None, **_: Any) -> Agent:
        options = openai_options
        if system_prompt is not None:
            options = dataclasses.replace(options, system_prompt=system_prompt)
        return OpenAICompatibleAgent(options)

    registry.register(OpenAICompatibleAgent.name, make_openai)


class TwinSetupLoader(Protocol):
    """Loads a twin's setup (persona, memory bound to a conversation, LLM) for its agent."""

    def __call__(
        self, *, tenant_id: uuid.UUID, twin_id: uuid.UUID, conversation_id: uuid.UUID | None
    ) -> Awaitable[TwinSetup]: ...


def register_twin_agent(
    registry: AgentRegistry, loader: TwinSetupLoader, *, options: TwinAgentOptions | None = None
) -> None:
    """Register ``twin``.

    Context understood: ``twin_setup`` (a ready ``TwinSetup``), or ``conversation`` (anything
    with ``id``, ``tenant_id`` and ``twin_id``, e.g. the conversation row): the setup is then
    loaded at the first turn, and the query history records that conversation's id.
    """

    def make_twin(
        *, twin_setup: TwinSetup | None = None, conversation: Any = None, **_: Any
    ) -> Agent:
        if twin_setup is not None:
            return TwinAgent(twin_setup, options=options)
        twin_id = getattr(conversation, "twin_id", None)
        if conversation is None or twin_id is None:
            raise AgentError(
                "a twin conversation needs its twin: create it with "
                '{"agent": "twin", "twin": "<twin id>"}',
                code="twin_missing",
            )
        tenant_id: uuid.UUID = conversation.tenant_id
        conversation_id: uuid.UUID = conversation.id

        async def load() -> TwinSetup:
            return await loader(
                tenant_id=tenant_id, twin_id=twin_id, conversation_id=conversation_id
            )

        return TwinAgent(loader=load, options=options)

    registry.register(TwinAgent.name, make_twin)
