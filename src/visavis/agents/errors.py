"""Typed errors of the agents (the LLMs and built-in agents that write the replies).

Each message says what happened and what a person can do about it; none carries a key.
"""

from __future__ import annotations

from visavis.errors import InvalidInputError, VisavisError


class AgentError(VisavisError):
    """Base of every error raised by ``visavis.agents``."""

    code = "agent_error"


class AgentUnavailable(AgentError):
    """The agent's server could not be reached or failed (connection error, HTTP 5xx)."""

    code = "agent_unavailable"


class AgentAuthError(AgentError):
    """The agent's server refused the credentials (HTTP 401/403)."""

    code = "agent_auth_failed"


class AgentRateLimited(AgentError):
    """The agent's server asked us to slow down (HTTP 429); ``retry_after_s`` when it said."""

    code = "agent_rate_limited"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AgentTimeout(AgentError):
    """No first token within the first-token timeout, or the stream stalled mid-way."""

    code = "agent_timeout"


class AgentBadResponse(AgentError):
    """The server answered something that is not a usable chat completion (or rejected it)."""

    code = "agent_bad_response"


class UnknownAgent(AgentError, InvalidInputError):
    """No agent is registered under that name."""

    code = "unknown_agent"
