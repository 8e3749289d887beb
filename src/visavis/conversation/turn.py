"""One agent turn: the agent's deltas become sentences, and the sentences become speech.

The agent is read while the output speaks (the output prepares sentence n+1 while n plays);
cancelling the turn stops reading the agent, and the session then interrupts the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from visavis.agents.base import Agent, Message
from visavis.conversation import protocol
from visavis.conversation.journal import ConversationJournal
from visavis.conversation.segmenter import (
    DeltaReceived,
    SentenceReady,
    SentenceSegmenter,
    TurnComplete,
    reply_sentences,
)
from visavis.conversation.speech_output import Heard, SpeechOutput


@dataclass
class TurnRecord:
    """What a turn is: why it started, when, and the agent's reply so far."""

    turn_id: int
    trigger: str
    started_ms: int
    reply: str = ""
    first_delta_ms: int | None = None


class TurnRunner:
    """Runs one turn of ``agent`` over ``messages`` into ``output`` (already started)."""

    def __init__(
        self,
        *,
        record: TurnRecord,
        agent: Agent,
        messages: Sequence[Message],
        output: SpeechOutput,
        journal: ConversationJournal,
        pause_s: float = 0.5,
    ) -> None:
        self.record = record
        self.agent = agent
        self.messages = list(messages)
        self.output = output
        self.journal = journal
        self.pause_s = pause_s

    async def run(self) -> Heard:
        """Speak the whole reply; returns what was heard, once the listener heard it all."""
        record = self.record
        clock = self.journal.clock
        stream = self.agent.stream(self.messages)
        async for event in reply_sentences(stream, SentenceSegmenter(), pause_s=self.pause_s):
            if isinstance(event, DeltaReceived):
                if record.first_delta_ms is None:
                    record.first_delta_ms = clock.ms() - record.started_ms
                record.reply += event.text
                self.journal.send(protocol.agent_delta(turn_id=record.turn_id, text=event.text))
            elif isinstance(event, SentenceReady):
                await self.output.push_text(event.text)
            elif isinstance(event, TurnComplete):
                break
        return await self.output.flush()
