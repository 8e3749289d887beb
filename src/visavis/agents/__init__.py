"""Agents: the LLMs and built-in agents that write a conversation's replies."""

from visavis.agents.base import Agent, Message, Role
from visavis.agents.errors import (
    AgentAuthError,
    AgentBadResponse,
    AgentError,
    AgentRateLimited,
    AgentTimeout,
    AgentUnavailable,
    UnknownAgent,
)
from visavis.agents.interviewer import InterviewerAgent, InterviewerOptions
from visavis.agents.openai_compatible import OpenAICompatibleAgent, OpenAICompatibleOptions
from visavis.agents.plans import InterviewPlan, InvalidPlan, PlanQuestion, load_default_plan
from visavis.agents.registry import (
    AgentFactory,
    AgentRegistry,
    TwinSetupLoader,
    register_builtin_agents,
    register_twin_agent,
)
from visavis.agents.twin import TwinAgent, TwinAgentOptions, TwinSetup
from visavis.agents.twin_memory import Persona, Recall, Recollection, TwinMemory

__all__ = [
    "Agent",
    "AgentAuthError",
    "AgentBadResponse",
    "AgentError",
    "AgentFactory",
    "AgentRateLimited",
    "AgentRegistry",
    "AgentTimeout",
    "AgentUnavailable",
    "InterviewPlan",
    "InterviewerAgent",
    "InterviewerOptions",
    "InvalidPlan",
    "Message",
    "OpenAICompatibleAgent",
    "OpenAICompatibleOptions",
    "Persona",
    "PlanQuestion",
    "Recall",
    "Recollection",
    "Role",
    "TwinAgent",
    "TwinAgentOptions",
    "TwinMemory",
    "TwinSetup",
    "TwinSetupLoader",
    "UnknownAgent",
    "load_default_plan",
    "register_builtin_agents",
    "register_twin_agent",
]
