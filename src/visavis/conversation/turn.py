"""One agent turn: agent deltas → sentences → speech, pipelined and cancellable.

Three tasks run together: the agent reader (deltas, sentence detection), the preparer (speech
for sentence n+1 while n plays) and the deliverer (paced audio). Cancelling the turn cancels
all three at once; what was already delivered stays recorded on the turn for the transcript.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from visavis.agents.base import Agent, Message
from visavis.conversation.clock import ConversationClock
from visavis.conversation.outbox import Outbox
from visavis.conversation.output import Piece, SpeechOutput
from visavis.conversation.pacer import DeltaReceived, SentenceReady, TurnComplete, watch_reply
from visavis.conversation.playout import ScheduledUtterance
from visavis.conversation.segmenter import SentenceSegmenter
from visavis.speech.errors import UnspeakableTextError

logger = logging.getLogger(__name__)

_END = object()


@dataclass
class TurnRecord:
    """What a turn did: its reply so far, what was delivered, and its figures."""

    turn_id: int
    trigger: str
    started_ms: int
    reply: str = ""
    sentences: int = 0
    first_delta_ms: int | None = None
    first_audio_ms: int | None = None
    audio_ms: int = 0
    synthesis_s: float = 0.0
    delivered: list[ScheduledUtterance] = field(default_factory=list)
    completed: bool = False

    @property
    def synthesis_rtf(self) -> float | None:
        """Seconds of audio produced per second of synthesis."""
        if self.synthesis_s <= 0 or self.audio_ms <= 0:
            return None
        return round(self.audio_ms / 1000 / self.synthesis_s, 2)


class TurnRunner:
    """Runs one turn of ``agent`` over ``messages`` into ``output``."""

    def __init__(
        self,
        *,
        record: TurnRecord,
        agent: Agent,
        messages: Sequence[Message],
        output: SpeechOutput,
        outbox: Outbox,
        clock: ConversationClock,
        next_utterance_id: Callable[[], int],
        on_first_audio: Callable[[], Awaitable[None]],
        pause_s: float = 0.5,
    ) -> None:
        self.record = record
        self.agent = agent
        self.messages = list(messages)
        self.output = output
        self.outbox = outbox
        self.clock = clock
        self.next_utterance_id = next_utterance_id
        self.on_first_audio = on_first_audio
        self.pause_s = pause_s
        self._sentences: asyncio.Queue[object] = asyncio.Queue()
        # Up to two prepared pieces wait while one plays: sentence n+1 is ready when n ends.
        self._pieces: asyncio.Queue[object] = asyncio.Queue(maxsize=2)

    async def run(self) -> TurnRecord:
        """Speak the whole reply; returns when the listener has heard it all."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._read_agent())
            group.create_task(self._prepare())
            group.create_task(self._deliver())
        if self.record.delivered:
            await self.output.wait_played(self.record.delivered[-1])
        self.record.completed = True
        return self.record

    async def _read_agent(self) -> None:
        segmenter = SentenceSegmenter()
        stream = self.agent.stream(self.messages)
        try:
            async for event in watch_reply(stream, segmenter, pause_s=self.pause_s):
                if isinstance(event, DeltaReceived):
                    if self.record.first_delta_ms is None:
                        self.record.first_delta_ms = self.clock.ms() - self.record.started_ms
                    self.record.reply += event.text
                    self.outbox.send_json(
                        {"type": "agent_delta", "turn_id": self.record.turn_id, "text": event.text}
                    )
                elif isinstance(event, SentenceReady):
                    await self._sentences.put(event.text)
                elif isinstance(event, TurnComplete):
                    break
        finally:
            await self._sentences.put(_END)

    async def _prepare(self) -> None:
        while True:
            sentence = await self._sentences.get()
            if sentence is _END:
                await self._pieces.put(_END)
                return
            assert isinstance(sentence, str)
            try:
                async for piece in self.output.prepare(sentence):
                    await self._pieces.put(piece)
            except UnspeakableTextError:
                logger.debug("skipped a sentence with nothing to say: %r", sentence[:40])

    async def _deliver(self) -> None:
        while True:
            item = await self._pieces.get()
            if item is _END:
                return
            piece: Piece = item  # type: ignore[assignment]
            if self.record.first_audio_ms is None:
                self.record.first_audio_ms = self.clock.ms() - self.record.started_ms
                await self.on_first_audio()
            scheduled = self.output.schedule(
                piece, utterance_id=self.next_utterance_id(), turn_id=self.record.turn_id
            )
            self.record.sentences += 1
            self.record.delivered.append(scheduled)
            self.record.audio_ms += scheduled.duration_ms
            self.record.synthesis_s += piece.synthesis_s
            await self.output.send(piece, scheduled)


def played_text(record: TurnRecord, now_ms: int) -> tuple[str, int, int | None]:
    """The text the listener heard, how long (ms), and when it started, on an interruption.

    Whole utterances heard count fully; the one cut off keeps the share of its words heard
    (a word counts once most of its share was played).
    """
    parts: list[str] = []
    start: int | None = None
    end: int | None = None
    for utterance in record.delivered:
        heard = utterance.played_ms(now_ms)
        if heard <= 0:
            break
        if start is None:
            start = utterance.start_ms
        end = utterance.start_ms + heard
        if heard >= utterance.duration_ms:
            parts.append(utterance.text)
            continue
        words = utterance.text.split()
        keep = round(len(words) * heard / max(1, utterance.duration_ms))
        if keep:
            parts.append(" ".join(words[:keep]))
        break
    duration = 0 if start is None or end is None else max(0, end - start)
    return " ".join(parts), duration, start
