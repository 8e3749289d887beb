"""Learning from conversations: facts a person states about themselves, extracted by the LLM.

Used only by twins with learning switched on (off by default) and an LLM configured, meant for
the owner's own "interview me" sessions: whatever is said to such a twin may become memory.
"""

from __future__ import annotations

import dataclasses
import re

from visavis.agents.base import Message
from visavis.agents.openai_compatible import OpenAICompatibleAgent, OpenAICompatibleOptions

EXTRACTION_PROMPT = (
    "You read one message a person said about themselves and list the lasting facts it "
    "states about the speaker's own life, work, family, tastes or history. Write each fact on "
    'its own line, as a short sentence in the first person ("I live in Lisbon."). Leave out '
    "questions, opinions about others, greetings and anything uncertain. If the message "
    "states no such fact, answer exactly NONE."
)
#: At most this many facts are kept from one message.
MAX_FACTS = 5
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


def parse_facts(reply: str) -> list[str]:
    """The fact lines of the model's reply (bullets and numbering removed)."""
    facts = []
    for line in reply.splitlines():
        text = _BULLET.sub("", line).strip().strip('"')
        if not text or text.upper().rstrip(".") == "NONE" or text.endswith("?"):
            continue
        if 3 <= len(text) <= 300 and text not in facts:
            facts.append(text)
    return facts[:MAX_FACTS]


async def extract_facts(llm: OpenAICompatibleOptions, message: str) -> list[str]:
    """Ask the LLM for the facts ``message`` states; raises ``AgentError`` subclasses."""
    agent = OpenAICompatibleAgent(dataclasses.replace(llm, system_prompt=EXTRACTION_PROMPT))
    try:
        reply = "".join([d async for d in agent.stream([Message("user", message)])])
    finally:
        await agent.aclose()
    return parse_facts(reply)
