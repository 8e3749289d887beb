"""The built-in, offline interviewer: conducts a structured interview from a plan.

It greets, asks each question, acknowledges the answer, asks a follow-up when an answer is
short or vague, moves on, closes politely and ends the conversation. Its replies stream in
small deltas like an LLM's, so the pipeline downstream is exercised the same way.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from visavis.agents import interview_flow
from visavis.agents.base import Agent, Message
from visavis.agents.plans import InterviewPlan, load_default_plan

_PIECE = re.compile(r"\s*\S+|\s+")


@dataclass(frozen=True, kw_only=True)
class InterviewerOptions:
    """How the interviewer streams: pause between deltas and the longest delta."""

    delta_delay_s: float = 0.005
    max_delta_chars: int = 6

    def __post_init__(self) -> None:
        if not 0 <= self.delta_delay_s <= 1:
            raise ValueError("delta_delay_s must be between 0 and 1 second")
        if self.max_delta_chars < 1:
            raise ValueError("max_delta_chars must be at least 1")


class InterviewerAgent(Agent):
    """Interviews the user following ``plan`` (the shipped software-engineering plan by default)."""

    name = "interviewer"
    greets_first = True

    def __init__(
        self, plan: InterviewPlan | None = None, *, options: InterviewerOptions | None = None
    ) -> None:
        self.plan = plan if plan is not None else load_default_plan()
        self.options = options if options is not None else InterviewerOptions()

    def reply_to(self, messages: Sequence[Message]) -> str:
        """The whole reply to ``messages``, as ``stream`` would deliver it."""
        previous, answer = interview_flow.replay(self.plan, messages)
        if previous is None:
            step = interview_flow.first_step()
        else:
            step = interview_flow.next_step(self.plan, previous, answer or "")
        return interview_flow.compose(self.plan, step, answer, previous)

    async def stream(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        """Stream the reply in deltas of a few characters to a word, pausing between them."""
        reply = self.reply_to(messages)
        for delta in split_into_deltas(reply, self.options.max_delta_chars):
            yield delta
            # sleep(0) still yields to the loop, so a consumer can always cancel between deltas.
            await asyncio.sleep(self.options.delta_delay_s)

    def wants_to_end(self, messages: Sequence[Message]) -> bool:
        """True once the latest reply in ``messages`` is the closing (or a word after it)."""
        last, _ = interview_flow.replay(self.plan, messages)
        return last is not None and last.kind in ("closing", "after_close")


def split_into_deltas(text: str, max_chars: int) -> list[str]:
    """Cut ``text`` like an LLM's token stream: words with their leading space, long ones cut."""
    deltas: list[str] = []
    for piece in _PIECE.findall(text):
        deltas.extend(piece[start : start + max_chars] for start in range(0, len(piece), max_chars))
    return deltas
