"""What a voice can say of a sentence: its script, spelled-out symbols, and what to do instead.

A voice reads letters of a script it does not know one by one ("chinese letter, chinese
letter …") and spells symbols and long digit strings out loud, so a few hundred characters
can become minutes of noise. :func:`assess` decides, per sentence, before any synthesis:

- letters of an unsupported script in a minority are left out of the spoken text (the
  written reply keeps them);
- a sentence mostly in a script the voice cannot speak goes to a fallback voice that can
  (eSpeak NG speaks many languages), or is skipped with a reason;
- decorative runs of symbols (``=====``, ``#$%&``) are left out; a sentence that is still
  mostly symbols or digits is skipped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from visavis.speech.errors import UnspeakableTextError

LATIN = "LATIN"
HAN = "HAN"

#: Scripts a voice speaks, by its language (the part of the voice name before ``-``);
#: every voice also reads Latin letters.
_SCRIPTS_OF_LANGUAGE: dict[str, frozenset[str]] = {
    "ru": frozenset({"CYRILLIC"}),
    "uk": frozenset({"CYRILLIC"}),
    "bg": frozenset({"CYRILLIC"}),
    "be": frozenset({"CYRILLIC"}),
    "mk": frozenset({"CYRILLIC"}),
    "sr": frozenset({"CYRILLIC"}),
    "kk": frozenset({"CYRILLIC"}),
    "ky": frozenset({"CYRILLIC"}),
    "el": frozenset({"GREEK"}),
    "grc": frozenset({"GREEK"}),
    "ar": frozenset({"ARABIC"}),
    "fa": frozenset({"ARABIC"}),
    "ur": frozenset({"ARABIC"}),
    "he": frozenset({"HEBREW"}),
    "hi": frozenset({"DEVANAGARI"}),
    "mr": frozenset({"DEVANAGARI"}),
    "ne": frozenset({"DEVANAGARI"}),
    "bn": frozenset({"BENGALI"}),
    "ta": frozenset({"TAMIL"}),
    "te": frozenset({"TELUGU"}),
    "th": frozenset({"THAI"}),
    "ka": frozenset({"GEORGIAN"}),
    "hy": frozenset({"ARMENIAN"}),
    "ja": frozenset({"HIRAGANA", "KATAKANA", HAN}),
    "ko": frozenset({"HANGUL"}),
    "cmn": frozenset({HAN}),
    "yue": frozenset({HAN}),
    "zh": frozenset({HAN}),
}

#: eSpeak NG voices tried, in order, for a sentence in a script the main voice cannot speak.
#: Han has none: eSpeak NG 1.51's Mandarin (Debian 12) reads its own pinyin tone digits in
#: English ("wo2 men five …"), which no listener would take for Chinese.
FALLBACK_VOICES: dict[str, tuple[str, ...]] = {
    "CYRILLIC": ("ru",),
    "GREEK": ("el",),
    "ARABIC": ("ar",),
    "HEBREW": ("he",),
    "DEVANAGARI": ("hi",),
    "BENGALI": ("bn",),
    "TAMIL": ("ta",),
    "TELUGU": ("te",),
    "THAI": ("th",),
    "GEORGIAN": ("ka",),
    "ARMENIAN": ("hy",),
    "HIRAGANA": ("ja",),
    "KATAKANA": ("ja",),
    "HANGUL": ("ko",),
}

# Punctuation a voice pauses on (or ignores) rather than names.
_QUIET_MARKS = frozenset(".,!?;:'\"()[]-–—…‘’“”«»¿¡/。、，！？；：「」『』（）・")
_SYMBOL_RUN = re.compile(r"(?:[^\w\s]|_){4,}")
_SPACES = re.compile(r"\s+")

#: Spelled-out characters allowed in a sentence before it counts as a flood: at least this
#: many, or this share of its visible characters, whichever is more.
FLOOD_MIN = 12
FLOOD_SHARE = 0.4


class SkipReason(StrEnum):
    """Why a sentence is not spoken (stable codes a client can show)."""

    UNSUPPORTED_SCRIPT = "unsupported_script"
    SYMBOL_FLOOD = "symbol_flood"
    NOTHING_TO_SAY = "nothing_to_say"
    SENTENCE_TOO_LONG = "sentence_too_long"
    REPLY_TOO_LONG = "reply_too_long"


class SpeechSkipped(UnspeakableTextError):
    """A sentence (or the rest of a reply) is not spoken; ``reason`` says why.

    A subclass of ``UnspeakableTextError``, so a pipeline that skips unspeakable sentences
    skips these too; one that reports skips reads ``reason`` and ``text``.
    """

    code = "speech_skipped"

    def __init__(self, reason: SkipReason, message: str, *, text: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.text = text


@dataclass(frozen=True, slots=True)
class Speakable:
    """What to say of one sentence, and with which voice (None: the main one)."""

    text: str
    voice: str | None = None
    script: str = LATIN
    dropped: int = 0  # characters left out of the spoken text


def script_of(char: str) -> str | None:
    """The script of a letter (``LATIN``, ``HAN``, ``CYRILLIC`` …); None for anything else."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    if name.startswith("CJK") or name.startswith("IDEOGRAPHIC"):
        return HAN
    first = name.split(" ", 1)[0]
    return first or None


def language_of(voice: str) -> str:
    """``en-us`` → ``en``; ``cmn`` → ``cmn``; ``en-us+f3`` → ``en``."""
    return voice.split("+", 1)[0].split("-", 1)[0].split("_", 1)[0].lower()


def scripts_of_voice(voice: str) -> frozenset[str]:
    """The scripts a voice of that name speaks (Latin always)."""
    return _SCRIPTS_OF_LANGUAGE.get(language_of(voice), frozenset()) | {LATIN}


def _spelled(char: str) -> bool:
    if char.isspace() or char in _QUIET_MARKS:
        return False
    category = unicodedata.category(char)
    if category.startswith("M"):
        return False
    return not category.startswith("L")  # digits, symbols, other punctuation


def _strip_decoration(text: str) -> str:
    """Without runs of 4+ symbols that would be named aloud (a rule, a wall of emoticons)."""

    def keep(match: re.Match[str]) -> str:
        run = match.group(0)
        return " " if sum(1 for c in run if _spelled(c)) >= 2 else run

    return _SYMBOL_RUN.sub(keep, text)


def assess(sentence: str, *, voice: str, fallbacks: dict[str, str] | None = None) -> Speakable:
    """What ``voice`` can say of ``sentence``; raises ``SpeechSkipped`` when nothing.

    ``fallbacks``: script → a voice known to speak it well (see :func:`FALLBACK_VOICES`,
    filtered by what is installed); none given means no fallback.
    """
    text = "".join(c for c in sentence if c.isprintable() or c.isspace())
    text = _SPACES.sub(" ", _strip_decoration(text)).strip()
    dropped = len(sentence) - len(text)
    counts: dict[str, int] = {}
    for char in text:
        script = script_of(char)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    visible = sum(1 for c in text if not c.isspace())
    spelled = sum(1 for c in text if _spelled(c))
    if spelled > max(FLOOD_MIN, FLOOD_SHARE * visible):
        raise SpeechSkipped(
            SkipReason.SYMBOL_FLOOD,
            f"{spelled} of {visible} characters would be spelled out (symbols or digits)",
            text=sentence,
        )
    if not counts:
        if any(c.isdigit() for c in text):
            return Speakable(text, dropped=dropped)
        raise SpeechSkipped(SkipReason.NOTHING_TO_SAY, "no letters or digits", text=sentence)
    main = max(counts, key=lambda s: counts[s])
    supported = scripts_of_voice(voice)
    chosen: str | None = None
    if main not in supported:
        chosen = (fallbacks or {}).get(main)
        if chosen is None:
            raise SpeechSkipped(
                SkipReason.UNSUPPORTED_SCRIPT,
                f"the text is mostly in {main.title()} script, which the voice {voice!r} "
                "cannot speak and no installed fallback voice speaks well",
                text=sentence,
            )
        supported = scripts_of_voice(chosen)
    kept = "".join(c for c in text if script_of(c) in supported or script_of(c) is None)
    kept = _SPACES.sub(" ", kept).strip()
    dropped += len(text) - len(kept)
    if not any(c.isalnum() for c in kept):
        raise SpeechSkipped(SkipReason.NOTHING_TO_SAY, "nothing left to say", text=sentence)
    return Speakable(kept, voice=chosen, script=main, dropped=dropped)


def speaks_well(phonemes: list[list[str]]) -> bool:
    """Whether an eSpeak NG voice's phonemes read the text in its own language.

    eSpeak marks words it falls back to another language for (``(en)``); a voice that does
    that for many words (Debian's Mandarin reads its own pinyin tone digits in English)
    would not be understood.
    """
    if not phonemes:
        return False
    switched = sum(1 for word in phonemes if any(p.startswith("(") for p in word))
    return switched <= 0.1 * len(phonemes)
