"""Text to phones (per word) with eSpeak NG's phonemizer: any spelling, numbers, names."""

from __future__ import annotations

import re

from visavis.speech.errors import UnspeakableTextError
from visavis.speech.phones import SIL, ipa_to_phones
from visavis.speech.tts.espeak_binding import espeak_library

_HAS_WORD = re.compile(r"\w", re.UNICODE)
_PAUSE = re.compile(r"[.,;:!?]")
# Other pronunciations of a language worth trying when the first does not fit the audio:
# American and British English differ in vowels (bath, lot, trap) and in the R after vowels.
_OTHER_PRONUNCIATIONS = {"en-us": ("en",), "en": ("en-us",)}


def text_to_words(text: str, *, voice: str = "en-us") -> list[list[str]]:
    """The phones of each word of ``text`` (ARPAbet names, no pauses)."""
    if not _HAS_WORD.search(text):
        raise UnspeakableTextError("the text has no words")
    words: list[list[str]] = []
    for phonemes in espeak_library().phonemize(" ".join(text.split()), voice=voice):
        phones = [p for ipa in phonemes for p in ipa_to_phones(ipa) if p != SIL]
        if phones:
            words.append(phones)
    if not words:
        raise UnspeakableTextError("the text has no words eSpeak NG can pronounce")
    return words


def pronunciations(voice: str) -> tuple[str, ...]:
    """eSpeak NG voices whose pronunciation of ``voice``'s language to try, in order."""
    return (voice, *_OTHER_PRONUNCIATIONS.get(voice, ()))


def punctuation_count(text: str) -> int:
    """How many pause marks the text holds (a hint for how many pauses to expect)."""
    return len(_PAUSE.findall(text))
