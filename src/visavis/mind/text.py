"""Words of a question or a memory item: terms for full-text search and word overlap."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)

#: Words that say nothing about the topic of a question (English).
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each else ever few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours out over own really same she should so some such tell than that the their
    them then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself anything
    something thing things know like kind lot much many one ones
    """.split()  # noqa: SIM905 - a word list reads better as text
)

_SUFFIXES = ("ingly", "edly", "ing", "ed", "es", "s", "ly")
#: Irregular forms a suffix rule cannot reach, to their base word.
_IRREGULAR = {
    "grew": "grow",
    "grown": "grow",
    "went": "go",
    "gone": "go",
    "ran": "run",
    "met": "meet",
    "wrote": "write",
    "written": "write",
    "ate": "eat",
    "eaten": "eat",
    "took": "take",
    "taken": "take",
    "began": "begin",
    "begun": "begin",
    "spoke": "speak",
    "spoken": "speak",
    "bought": "buy",
    "taught": "teach",
    "thought": "think",
    "left": "leave",
    "felt": "feel",
    "won": "win",
    "lost": "lose",
    "made": "make",
    "found": "find",
    "built": "build",
    "sang": "sing",
    "sung": "sing",
    "swam": "swim",
    "drove": "drive",
    "driven": "drive",
    "knew": "know",
    "known": "know",
    "saw": "see",
    "seen": "see",
    "came": "come",
    "became": "become",
    "got": "get",
    "gave": "give",
    "given": "give",
    "kept": "keep",
    "brought": "bring",
    "children": "child",
    "men": "man",
    "women": "woman",
    "born": "birth",
    "lived": "live",
    "fell": "fall",
    "fallen": "fall",
    "broke": "break",
    "broken": "break",
    "chose": "choose",
    "chosen": "choose",
    "flew": "fly",
    "flown": "fly",
    "sold": "sell",
    "told": "tell",
    "held": "hold",
    "heard": "hear",
    "paid": "pay",
    "slept": "sleep",
    "spent": "spend",
    "stood": "stand",
    "understood": "understand",
    "wore": "wear",
}


def words(text: str) -> list[str]:
    """Lower-case words (apostrophes kept inside a word)."""
    return [w.lower() for w in _WORD.findall(text)]


def content_terms(text: str) -> list[str]:
    """The words that carry the topic, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in words(text):
        word = word.split("'")[0]
        if len(word) > 1 and word not in STOP_WORDS and word not in seen:
            seen[word] = None
    return list(seen)


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude stem, enough to match plural and tense forms of one word."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("ies", "ied")) and len(word) > 4:
        return word[:-3] + "y"
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def stems(text: str) -> set[str]:
    """Stems of the content terms of ``text``."""
    return {stem(t) for t in content_terms(text)}


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 query matching any of ``terms`` (each quoted, so no syntax leaks in)."""
    return " OR ".join('"' + t.replace('"', "") + '"' for t in terms if t.replace('"', ""))


def tsquery(terms: Sequence[str]) -> str:
    """A PostgreSQL ``to_tsquery`` text matching any of ``terms`` (letters and digits only)."""
    safe = ["".join(ch for ch in t if ch.isalnum()) for t in terms]
    return " | ".join(t for t in safe if t)
