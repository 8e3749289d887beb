"""The twin agent: first-person answers grounded in the twin's memory, streamed.

Each turn retrieves memory for the person's latest message. With an OpenAI-compatible LLM
configured for the twin, the model writes the answer from the retrieved items only; without
one, the offline twin (``twin_offline``) chooses and lightly rephrases the best item. Either
way, when memory holds nothing sure enough the twin says it doesn't know, and every answer
is recorded with the items it used.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from visavis.agents.base import Agent, Message
from visavis.agents.openai_compatible import OpenAICompatibleAgent, OpenAICompatibleOptions
from visavis.agents.twin_learning import extract_facts
from visavis.agents.twin_memory import Persona, Recall, Recollection, TwinMemory
from visavis.agents.twin_offline import DONT_KNOW, compose, small_talk
from visavis.errors import VisavisError

logger = logging.getLogger(__name__)

_CHUNK = re.compile(r"\S+\s*")


@dataclass(frozen=True, kw_only=True)
class TwinAgentOptions:
    """How much memory a turn retrieves and how sure it must be to be used."""

    #: Items retrieved per question.
    retrieve: int = 5
    #: Confidence (0..1) an item needs to be used in an answer (tuned by ``bench/twins.py``).
    threshold: float = 0.42
    #: Items an LLM is given at most.
    llm_items: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.retrieve <= 50:
            raise ValueError("retrieve must be between 1 and 50")
        if not 0 <= self.threshold <= 1:
            raise ValueError("threshold must be between 0 and 1")
        if not 1 <= self.llm_items <= self.retrieve:
            raise ValueError("llm_items must be between 1 and retrieve")


@dataclass(frozen=True, kw_only=True)
class TwinSetup:
    """Everything one twin conversation needs: who, its memory, and optionally its LLM."""

    persona: Persona
    memory: TwinMemory
    llm: OpenAICompatibleOptions | None = None
    #: Store the facts the person states (needs ``llm``; see ``twin_learning``).
    learning: bool = False


@dataclass(frozen=True, slots=True)
class TwinTurn:
    """What the latest turn retrieved, used and answered."""

    recall: Recall
    used: tuple[str, ...]
    answer: str
    mode: str


def system_prompt(persona: Persona, items: Sequence[Recollection]) -> str:
    """The LLM's instructions: be the person, answer only from the numbered memory."""
    lines = [
        f"You are {persona.name}, answering visitors' questions about your own life and work, "
        "in the first person, through a talking avatar.",
    ]
    if persona.bio:
        lines.append(f"About you: {persona.bio}")
    if persona.speaking_style:
        lines.append(f"Your speaking style: {persona.speaking_style}")
    lines.append(
        "Answer ONLY from the memory below. Never invent facts about yourself: when the "
        "memory does not answer the question, say plainly that you don't know. Speak in "
        "short spoken sentences without markdown or lists."
    )
    if items:
        lines.append("Memory:")
        for number, item in enumerate(items, start=1):
            label = f"story '{item.title}'" if item.kind == "story" and item.title else item.kind
            when = f" ({item.happened_at.year})" if item.happened_at else ""
            past = " [no longer true]" if not item.valid else ""
            lines.append(f"[{number}] {label}{when}{past}: {' '.join(item.text.split())}")
    else:
        lines.append("Memory: nothing relevant to this question.")
    return "\n".join(lines)


def _deltas(text: str) -> list[str]:
    return _CHUNK.findall(text) or [text]


class TwinAgent(Agent):
    """Answers as the twin; ``setup`` is given, or loaded at the first turn by ``loader``."""

    name = "twin"

    def __init__(
        self,
        setup: TwinSetup | None = None,
        *,
        loader: Callable[[], Awaitable[TwinSetup]] | None = None,
        options: TwinAgentOptions | None = None,
    ) -> None:
        if setup is None and loader is None:
            raise ValueError("a twin agent needs its setup or a loader for it")
        self._setup = setup
        self._loader = loader
        self.options = options or TwinAgentOptions()
        self.last_turn: TwinTurn | None = None
        #: Facts stored from the conversation so far (when learning).
        self.learned = 0
        self._learning: set[asyncio.Task[None]] = set()
        self._recording: set[asyncio.Task[None]] = set()

    async def setup(self) -> TwinSetup:
        """The twin's setup, loaded once."""
        if self._setup is None:
            assert self._loader is not None
            self._setup = await self._loader()
        return self._setup

    async def stream(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        """Stream the answer to the latest user message (see the module docstring)."""
        setup = await self.setup()
        await self.wait_recorded()  # the history keeps the order of the questions
        question = next((m.content for m in reversed(messages) if m.role == "user"), "").strip()
        if not question:
            greeting = small_talk(setup.persona, "hello") or "Hello."
            for delta in _deltas(greeting):
                yield delta
            return
        recall = await setup.memory.recall(question, limit=self.options.retrieve)
        chat = small_talk(setup.persona, question)
        sure = recall.confident(self.options.threshold)
        if setup.llm is None or chat is not None or not sure:
            answer = compose(setup.persona, recall, threshold=self.options.threshold)
            for delta in _deltas(answer.text):
                yield delta
            # Recorded beside the reply: its last sentence is released when the stream ends.
            self.last_turn = TwinTurn(recall, tuple(answer.used), answer.text, "offline")
            self._record(self._finish(setup, recall, answer.used, answer.text, "offline"))
            return
        given = sure[: self.options.llm_items]
        options = dataclasses.replace(setup.llm, system_prompt=system_prompt(setup.persona, given))
        llm = OpenAICompatibleAgent(options)
        parts: list[str] = []
        try:
            async for delta in llm.stream(list(messages)):
                parts.append(delta)
                yield delta
        finally:
            await llm.aclose()
        await self._finish(setup, recall, tuple(i.id for i in given), "".join(parts), "llm")

    async def _finish(
        self, setup: TwinSetup, recall: Recall, used: Sequence[str], answer: str, mode: str
    ) -> None:
        self.last_turn = TwinTurn(recall, tuple(used), answer, mode)
        await setup.memory.record(recall, used=used, answer=answer, mode=mode)
        if setup.learning and setup.llm is not None:
            task = asyncio.create_task(self._learn(setup, setup.llm, recall.question))
            self._learning.add(task)
            task.add_done_callback(self._learning.discard)

    async def _learn(self, setup: TwinSetup, llm: OpenAICompatibleOptions, said: str) -> None:
        try:
            facts = await extract_facts(llm, said)
            if facts:
                self.learned += await setup.memory.learn(facts)
        except VisavisError:
            # Learning is a side path: the conversation goes on, the failure is logged.
            logger.warning("the twin could not learn from a message", exc_info=True)

    def _record(self, finish: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(finish)
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def wait_recorded(self) -> None:
        """Until the answers given so far are in the query history."""
        if self._recording:
            await asyncio.gather(*self._recording)

    async def wait_learning(self, timeout_s: float = 15.0) -> None:
        """Let facts being extracted land (bounded), then cancel what is left."""
        await self.wait_recorded()  # recording the answer is what starts the learning
        pending = set(self._learning)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def aclose(self) -> None:
        """Record the last answer; finish (or cancel, past a bound) the learning started by
        earlier turns."""
        await self.wait_learning()


def is_dont_know(answer: str) -> bool:
    """True when ``answer`` is one of the offline twin's "I don't know" sentences."""
    return answer in DONT_KNOW
