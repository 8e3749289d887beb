"""The phone set shared by the voices and the lip-sync (ARPAbet names, ``SIL`` for pauses).

eSpeak and Piper speak in IPA; :func:`ipa_to_phones` maps any IPA string (of any language
eSpeak knows) to the nearest ARPAbet phones, which is all the mouth needs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from visavis.speech.tts.base import PhoneTiming

SIL = "SIL"
VOWELS = frozenset(
    ["AA", "AE", "AH", "AO", "AW", "AX", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"]
)
CONSONANTS = frozenset(
    [
        "P",
        "B",
        "T",
        "D",
        "K",
        "G",
        "CH",
        "JH",
        "F",
        "V",
        "TH",
        "DH",
        "S",
        "Z",
        "SH",
        "ZH",
        "HH",
        "M",
        "N",
        "NG",
        "L",
        "R",
        "Y",
        "W",
    ]
)
PHONES = VOWELS | CONSONANTS | {SIL}

# Longest tokens first; a token may stand for several phones.
_IPA_TOKENS: dict[str, tuple[str, ...]] = {
    # diphthongs and vowel clusters
    "aɪə": ("AY", "AX"),
    "aʊə": ("AW", "AX"),
    "aɪ": ("AY",),
    "aʊ": ("AW",),
    "eɪ": ("EY",),
    "oʊ": ("OW",),
    "əʊ": ("OW",),
    "ɔɪ": ("OY",),
    "ɪə": ("IH", "AX"),
    "eə": ("EH", "AX"),
    "ʊə": ("UH", "AX"),
    "ɛə": ("EH", "AX"),
    # affricates
    "tʃ": ("CH",),
    "dʒ": ("JH",),
    "ts": ("T", "S"),
    "dz": ("D", "Z"),
    "tɕ": ("CH",),
    "dʑ": ("JH",),
    # vowels
    "ɑ": ("AA",),
    "a": ("AA",),
    "ɒ": ("AA",),
    "ɶ": ("AA",),
    "æ": ("AE",),
    "ɐ": ("AX",),
    "ʌ": ("AH",),
    "ɤ": ("AH",),
    "ə": ("AX",),
    "ɘ": ("AX",),
    "ɵ": ("AX",),
    "ɚ": ("ER",),
    "ɜ": ("ER",),
    "ɝ": ("ER",),
    "ɞ": ("ER",),
    "ø": ("ER",),
    "œ": ("ER",),
    "ɔ": ("AO",),
    "o": ("OW",),
    "e": ("EY",),
    "ɛ": ("EH",),
    "ɪ": ("IH",),
    "ᵻ": ("IH",),
    "ɨ": ("IH",),
    "i": ("IY",),
    "y": ("UW",),
    "ʏ": ("UH",),
    "ʉ": ("UW",),
    "ʊ": ("UH",),
    "u": ("UW",),
    "ɯ": ("UW",),
    # consonants
    "p": ("P",),
    "b": ("B",),
    "t": ("T",),
    "d": ("D",),
    "ʈ": ("T",),
    "ɖ": ("D",),
    "c": ("K",),
    "ɟ": ("G",),
    "k": ("K",),
    "g": ("G",),
    "ɡ": ("G",),
    "q": ("K",),
    "ɢ": ("G",),
    "ʔ": ("HH",),
    "f": ("F",),
    "v": ("V",),
    "ɸ": ("F",),
    "β": ("V",),
    "ʋ": ("V",),
    "θ": ("TH",),
    "ð": ("DH",),
    "s": ("S",),
    "z": ("Z",),
    "ʃ": ("SH",),
    "ʒ": ("ZH",),
    "ɕ": ("SH",),
    "ʑ": ("ZH",),
    "ʂ": ("SH",),
    "ʐ": ("ZH",),
    "ç": ("SH",),
    "ʝ": ("Y",),
    "x": ("HH",),
    "ɣ": ("G",),
    "χ": ("HH",),
    "ʁ": ("R",),
    "ħ": ("HH",),
    "ʕ": ("HH",),
    "h": ("HH",),
    "ɦ": ("HH",),
    "m": ("M",),
    "ɱ": ("M",),
    "n": ("N",),
    "ɲ": ("N",),
    "ɳ": ("N",),
    "ŋ": ("NG",),
    "ɴ": ("NG",),
    "l": ("L",),
    "ɫ": ("L",),
    "ɭ": ("L",),
    "ʎ": ("L",),
    "ɬ": ("L",),
    "ɮ": ("L",),
    "ɹ": ("R",),
    "r": ("R",),
    "ɾ": ("D",),
    "ɽ": ("D",),
    "ɻ": ("R",),
    "ʀ": ("R",),
    "ɺ": ("L",),
    "j": ("Y",),
    "ɥ": ("W",),
    "w": ("W",),
    "ʍ": ("W",),
    "ɰ": ("W",),
}
_MAX_TOKEN = max(len(token) for token in _IPA_TOKENS)
_PAUSE_MARKS = frozenset(".,;:!?…_|‖")
# Marks that carry no phone of their own (stress, length, tone, syllable breaks).
_SILENT_MARKS = frozenset("ˈˌːˑ-'\"ʰʲʷˤ˞↓↑#^$ ()0123456789")

# Share of a multi-phone token's time given to each phone (vowel + r, diphthong + schwa).
_FIRST_SHARE = 0.6


def normalize_ipa(ipa: str) -> str:
    """Drop combining diacritics and stress/length marks, keeping base letters and pauses."""
    decomposed = unicodedata.normalize("NFD", ipa)
    kept = [
        char
        for char in decomposed
        if not unicodedata.combining(char) and char not in _SILENT_MARKS and char != " "
    ]
    return "".join(kept)


def ipa_to_phones(ipa: str) -> list[str]:
    """Map an IPA string (one eSpeak/Piper phoneme or a whole word) to ARPAbet phones."""
    text = normalize_ipa(ipa)
    phones: list[str] = []
    index = 0
    while index < len(text):
        if text[index] in _PAUSE_MARKS:
            if not phones or phones[-1] != SIL:
                phones.append(SIL)
            index += 1
            continue
        for size in range(min(_MAX_TOKEN, len(text) - index), 0, -1):
            token = _IPA_TOKENS.get(text[index : index + size])
            if token is not None:
                phones.extend(token)
                index += size
                break
        else:
            # A letter we do not know: it is speech, with no particular mouth shape.
            if unicodedata.category(text[index]).startswith("L"):
                phones.append("HH")
            index += 1
    return phones


def ipa_token_spans(symbols: Sequence[str]) -> list[tuple[int, int, tuple[str, ...]]]:
    """Group IPA symbols (one character each, marks already removed) into phone tokens.

    Returns ``(first index, end index, phones)`` spans; unknown letters become ``HH``.
    """
    spans: list[tuple[int, int, tuple[str, ...]]] = []
    index = 0
    while index < len(symbols):
        for size in range(min(_MAX_TOKEN, len(symbols) - index), 0, -1):
            token = _IPA_TOKENS.get("".join(symbols[index : index + size]))
            if token is not None:
                spans.append((index, index + size, token))
                index += size
                break
        else:
            spans.append((index, index + 1, ("HH",)))
            index += 1
    return spans


def is_ipa_mark(symbol: str) -> bool:
    """True for symbols that carry no phone: stress, length, diacritics, word spaces."""
    return all(unicodedata.combining(c) or c in _SILENT_MARKS or c.isspace() for c in symbol)


def is_pause_mark(symbol: str) -> bool:
    """True for punctuation that Piper and eSpeak render as a pause."""
    return bool(symbol) and all(c in _PAUSE_MARKS for c in symbol)


def timed_phones(phones: Sequence[str], start: float, end: float) -> list[PhoneTiming]:
    """Spread one event's phones over its time span (first phone gets the larger share)."""
    if not phones:
        return []
    if len(phones) == 1:
        return [PhoneTiming(phones[0], start, end)]
    span = end - start
    first_end = start + span * _FIRST_SHARE
    rest = (end - first_end) / (len(phones) - 1)
    out = [PhoneTiming(phones[0], start, first_end)]
    for index, phone in enumerate(phones[1:]):
        out.append(PhoneTiming(phone, first_end + index * rest, first_end + (index + 1) * rest))
    return out


def merge_pauses(phones: Sequence[PhoneTiming]) -> list[PhoneTiming]:
    """Join adjacent pauses, drop empty phones and make the track contiguous."""
    out: list[PhoneTiming] = []
    for item in phones:
        if item.end <= item.start:
            continue
        if out and item.phone == SIL and out[-1].phone == SIL:
            out[-1] = PhoneTiming(SIL, out[-1].start, item.end)
            continue
        if out and abs(item.start - out[-1].end) > 1e-6:
            if item.start > out[-1].end:
                out.append(PhoneTiming(SIL, out[-1].end, item.start))
                if item.phone == SIL:
                    out[-1] = PhoneTiming(SIL, out[-1].start, item.end)
                    continue
            else:
                item = PhoneTiming(item.phone, out[-1].end, max(item.end, out[-1].end))
        out.append(item)
    return out
