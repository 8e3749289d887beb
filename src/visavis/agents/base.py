"""The agent interface: a chat history in, the reply out as a stream of text deltas."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant"]

#: Ends an assistant message the user cut off: the content is only what they heard.
INTERRUPTED_MARK = " —"


@dataclass(frozen=True, slots=True)
class Message:
    """One entry of the chat history given to an agent."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ("system", "user", "assistant"):
            raise ValueError(f"unknown message role {self.role!r}")


class Agent(ABC):
    """Writes the replies of a conversation.

    ``stream`` is an async generator: cancelling the task that consumes it, or calling
    ``aclose()`` on it, stops the work promptly (an HTTP stream is closed). Agents are
    stateless across turns: everything they need is in ``messages``.
    """

    #: The registry name of the agent ("openai", "interviewer", ...).
    name: str
    #: True when the agent speaks before the user: the session then runs one agent turn
    #: with the history so far (possibly empty) as soon as the conversation is ready.
    greets_first: bool = False

    @abstractmethod
    def stream(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        """Stream the reply to ``messages`` (oldest first) as text deltas.

        Raises ``visavis.agents.errors.AgentError`` subclasses; never yields empty strings.
        """

    def wants_to_end(self, messages: Sequence[Message]) -> bool:
        """True when the agent's latest reply in ``messages`` closes the conversation.

        Called after the reply was appended to the history; the session ends the
        conversation once that reply has been spoken.
        """
        return False

    async def aclose(self) -> None:  # noqa: B027 - most agents hold nothing
        """Release what the agent holds (HTTP clients); idempotent."""
