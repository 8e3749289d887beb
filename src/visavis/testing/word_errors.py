"""Word-level edit distance: how many words a transcript got wrong (substituted, dropped or
added). The measure behind word error rates, shared by the tests and the benchmarks; each
normalizes the words its own way first."""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """The fewest substitutions, deletions and insertions that turn ``ref`` into ``hyp``."""
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != other))
    return row[-1]
