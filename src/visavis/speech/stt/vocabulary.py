"""Names and terms a conversation expects, as the recognizer's prompt.

Whisper spells what it has not heard of by sound ("Siobhan" as "Shival", "Heroku" as "Hero
Koot"). Given the words as the text before the audio, it spells them as given when they are
said, and they change little when they are not (``bench/vocabulary.py``: figures in
docs/speech-input.md).
"""

from __future__ import annotations

from collections.abc import Sequence

#: How many terms a conversation may give, and how long each may be: the prompt's tokens
#: (Whisper keeps at most 223) hold 50 terms of a few words.
MAX_TERMS = 50
MAX_TERM_CHARS = 60
#: The prompt's form, chosen on the development half of bench/vocabulary.py's sentences:
#: a bare list ("Kubernetes, Zalando.") mishears unrelated speech slightly more.
LEAD = "Names and terms: "


def vocabulary_prompt(terms: Sequence[str] | None) -> str | None:
    """The prompt for ``terms`` (each once, in order; blank ones skipped), or ``None``."""
    seen: dict[str, None] = {}
    for term in terms or ():
        cleaned = " ".join(term.split())
        if cleaned and cleaned.lower() not in {t.lower() for t in seen}:
            seen[cleaned] = None
    if not seen:
        return None
    return LEAD + ", ".join(seen) + "."
