"""Words that sound like a finished turn, and words that go on."""

from __future__ import annotations

import pytest

from visavis.speech.turn_end import sounds_finished


@pytest.mark.parametrize(
    "text",
    [
        "I build data pipelines.",
        "Is that the whole team?",
        "We shipped it on time!",
        'He said "yes."',
        "  I rebuilt our order service.  ",
    ],
)
def test_whole_sentences_sound_finished(text: str) -> None:
    assert sounds_finished(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I would like to",  # no closing punctuation
        "I would like to.",  # ends on a preposition, whatever the punctuation
        "We measured both options and.",
        "I worked on the.",
        "Then I, um.",
        "Let me think...",
        "Let me think…",
        "First the database,",
        "It was because I'm.",
    ],
)
def test_sentences_still_under_way_do_not(text: str) -> None:
    assert not sounds_finished(text)
