"""A scripted agent: replies given in advance, streamed word by word at a set pace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Sequence

from visavis.agents.base import Agent, Message
from visavis.agents.errors import AgentError


class ScriptedAgent(Agent):
    """Says ``replies`` in order, one per turn (the last one again once they run out).

    ``delta_s`` is the pause before each delta; ``pause_after`` maps a word to a longer
    pause after it (an agent that hesitates); ``greets_first`` makes the first reply a
    greeting; a reply that is an ``AgentError`` is raised after ``fail_after`` deltas;
    ``closing``: the reply after which the agent ends the conversation.
    """

    name = "scripted"

    def __init__(
        self,
        replies: Iterable[str | AgentError],
        *,
        delta_s: float = 0.005,
        greets_first: bool = False,
        fail_after: int = 0,
        closing: str | None = None,
        pause_after: dict[str, float] | None = None,
    ) -> None:
        self.replies = list(replies)
        if not self.replies:
            raise ValueError("a scripted agent needs at least one reply")
        self.delta_s = delta_s
        self.greets_first = greets_first
        self.fail_after = fail_after
        self.closing = closing
        self.pause_after = dict(pause_after or {})
        self.turns = 0
        self.seen: list[list[Message]] = []

    async def stream(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        self.seen.append(list(messages))
        reply = self.replies[min(self.turns, len(self.replies) - 1)]
        self.turns += 1
        if isinstance(reply, AgentError):
            for word in ["Well,", " let", " me", " think."][: self.fail_after]:
                await asyncio.sleep(self.delta_s)
                yield word
            raise reply
        words = reply.split(" ")
        for index, word in enumerate(words):
            await asyncio.sleep(self.delta_s)
            yield word if index == 0 else " " + word
            if word in self.pause_after:
                await asyncio.sleep(self.pause_after[word])

    def wants_to_end(self, messages: Sequence[Message]) -> bool:
        last = messages[-1] if messages else None
        return (
            self.closing is not None
            and last is not None
            and last.role == "assistant"
            and last.content.strip() == self.closing
        )
