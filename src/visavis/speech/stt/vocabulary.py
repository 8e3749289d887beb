"""Names and terms a conversation expects, as the recognizer's prompt.

Whisper spells what it has not heard of by sound ("Siobhan" as "Shival", "Heroku" as "Hero
Koot"). Given the words as the text before the audio, it spells them as given when they are
said, and they change little when they are not (``bench/vocabulary.py``: figures in
docs/speech-input.md).
"""

from __future__ import annotations

from collections.abc import Sequence

#: How many terms a conversation may give, and how long each may be.
MAX_TERMS = 50
MAX_TERM_CHARS = 60
#: Whisper keeps the last 223 tokens of a prompt, and names cost about one token per three
#: characters: a longer prompt would lose its lead-in and first terms, so the terms that do
#: not fit in this many characters are left out instead (the last ones given).
MAX_PROMPT_CHARS = 600
#: The prompt's form, chosen on the development half of bench/vocabulary.py's sentences:
#: a bare list ("Kubernetes, Zalando.") mishears unrelated speech slightly more.
LEAD = "Names and terms: "


def vocabulary_prompt(terms: Sequence[str] | None) -> str | None:
    """The prompt for ``terms`` (each once, in order, as many as fit in
    ``MAX_PROMPT_CHARS``; blank ones skipped), or ``None``."""
    kept: list[str] = []
    length = len(LEAD) + 1
    for term in terms or ():
        cleaned = " ".join(term.split())
        if not cleaned or cleaned.lower() in {t.lower() for t in kept}:
            continue
        length += len(cleaned) + (2 if kept else 0)
        if length > MAX_PROMPT_CHARS:
            break
        kept.append(cleaned)
    return LEAD + ", ".join(kept) + "." if kept else None
