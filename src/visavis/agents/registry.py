"""Agents by name: the app factory registers factories, each conversation creates its agent.

Built-in agents register exactly like any other; nothing is registered at import.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from visavis.agents.base import Agent
from visavis.agents.errors import UnknownAgent
from visavis.agents.interviewer import InterviewerAgent, InterviewerOptions
from visavis.agents.openai_compatible import OpenAICompatibleAgent, OpenAICompatibleOptions
from visavis.agents.plans import InterviewPlan


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
