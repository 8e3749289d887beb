"""Word errors as the Whisper paper scores them: Whisper's English normalizer, then the edit
distance over words. Shared by the speech benchmarks."""

from __future__ import annotations

from visavis.testing.word_errors import edit_distance


def whisper_normalize(text: str) -> list[str]:
    """Words after Whisper's English normalizer (needs ``pip install 'visavis[bench]'``)."""
    from whisper_normalizer.english import EnglishTextNormalizer

    return str(EnglishTextNormalizer()(text)).split()


def word_errors(expected: str, heard: str) -> tuple[int, int]:
    """(word errors, words expected) of ``heard`` against ``expected``."""
    ref = whisper_normalize(expected)
    return edit_distance(ref, whisper_normalize(heard)), len(ref)
