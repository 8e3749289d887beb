"""Word errors as the Whisper paper scores them: Whisper's English normalizer, then the edit
distance over words. Shared by the speech benchmarks."""

from __future__ import annotations


def whisper_normalize(text: str) -> list[str]:
    """Words after Whisper's English normalizer (needs ``pip install 'visavis[bench]'``)."""
    from whisper_normalizer.english import EnglishTextNormalizer

    return str(EnglishTextNormalizer()(text)).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != other))
    return row[-1]


def word_errors(expected: str, heard: str) -> tuple[int, int]:
    """(word errors, words expected) of ``heard`` against ``expected``."""
    ref = whisper_normalize(expected)
    return edit_distance(ref, whisper_normalize(heard)), len(ref)
