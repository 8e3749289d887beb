"""The word-level edit distance behind every word error rate the tests and benchmarks give."""

from __future__ import annotations

from visavis.testing.word_errors import edit_distance


def test_each_substitution_deletion_and_insertion_counts_once() -> None:
    ref = ["i", "teach", "history", "at", "a", "small", "school"]
    assert edit_distance(ref, ref) == 0
    assert edit_distance(ref, ["i", "teach", "mystery", "at", "a", "small", "school"]) == 1
    assert edit_distance(ref, ["i", "teach", "history", "at", "small", "school"]) == 1
    assert edit_distance(ref, ["i", "teach", "history", "at", "a", "very", "small", "school"]) == 1
    assert edit_distance(ref, []) == len(ref)
    assert edit_distance([], ref) == len(ref)
    # A swap of neighbours is two edits, not one.
    assert edit_distance(["a", "b"], ["b", "a"]) == 2
