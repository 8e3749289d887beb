"""The offline twin: answers by choosing the best-matching memory and rephrasing it lightly.

No model writes anything here: every sentence said about the person comes from a stored
fact or story, so nothing is invented. When memory holds nothing sure enough, it says so.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from visavis.agents.twin_memory import Persona, Recall, Recollection

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\b", re.IGNORECASE)
_THANKS = re.compile(r"\b(thanks|thank you|cheers)\b", re.IGNORECASE)
_BYE = re.compile(r"^\s*(bye|goodbye|see you|farewell)\b", re.IGNORECASE)
_TERSE = ("concise", "brief", "short", "terse", "dry", "direct")

DONT_KNOW = (
    "I don't know — that's not something I've shared, and I'd rather not guess.",
    "Honestly, I don't know; I've never talked about that.",
    "I don't know. That isn't something I can tell you about, and I won't make it up.",
)
_FACT_LEADS = ("", "Sure. ", "Good question. ", "Well, ")
_STORY_LEADS = (
    "That reminds me of {title}. ",
    "Let me tell you about {title}. ",
    "There's a story there: {title}. ",
)


@dataclass(frozen=True, slots=True)
class OfflineAnswer:
    """The answer and the ids of the memory items it is built from."""

    text: str
    used: tuple[str, ...]


def _pick(options: tuple[str, ...], key: str) -> str:
    return options[zlib.crc32(key.encode("utf-8")) % len(options)]


def _terse(persona: Persona) -> bool:
    style = persona.speaking_style.lower()
    return any(word in style for word in _TERSE)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _first_sentences(text: str, count: int) -> str:
    parts = _SENTENCE_END.split(" ".join(text.split()))
    return " ".join(parts[:count])


def _about(title: str) -> str:
    title = title.strip().rstrip(".")
    return title[:1].lower() + title[1:] if title[:2].istitle() else title


def _fact_answer(persona: Persona, item: Recollection, question: str) -> str:
    statement = _sentence(item.text)
    if not item.valid:
        return f"That used to be true, but it isn't any more: {statement}"
    lead = "" if _terse(persona) else _pick(_FACT_LEADS, question)
    return lead + statement


def _story_answer(persona: Persona, item: Recollection, question: str) -> str:
    sentences = 2 if _terse(persona) else 3
    body = _first_sentences(item.text, sentences)
    if item.title and not _terse(persona):
        return _pick(_STORY_LEADS, question).format(title=_about(item.title)) + body
    return body


def small_talk(persona: Persona, question: str) -> str | None:
    """A reply to a greeting, thanks or goodbye (no memory needed), else ``None``."""
    words = question.split()
    if _GREETING.match(question) and len(words) <= 4:
        return f"Hi, I'm {persona.name}. Ask me anything about my life and work."
    if _THANKS.search(question) and len(words) <= 6:
        return "You're welcome."
    if _BYE.match(question) and len(words) <= 4:
        return "Goodbye, it was nice talking to you."
    return None


def compose(persona: Persona, recall: Recall, *, threshold: float) -> OfflineAnswer:
    """Answer ``recall.question`` from its most confident item, or say it doesn't know."""
    question = recall.question
    chat = small_talk(persona, question)
    if chat is not None:
        return OfflineAnswer(chat, ())
    sure = recall.confident(threshold)
    if not sure:
        return OfflineAnswer(_pick(DONT_KNOW, question), ())
    best = max(sure, key=lambda item: item.confidence)
    if best.kind == "fact":
        text = _fact_answer(persona, best, question)
        used = [best.id]
        stories = [i for i in sure if i.kind == "story" and i.title and i is not best]
        if stories and not _terse(persona):
            text += f" If you like, I can tell you about {_about(stories[0].title or '')}."
        return OfflineAnswer(text, tuple(used))
    return OfflineAnswer(_story_answer(persona, best, question), (best.id,))
