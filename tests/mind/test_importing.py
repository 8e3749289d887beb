"""Import formats: JSONL and Markdown, all or nothing, every broken line reported."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from visavis.errors import InvalidInputError
from visavis.mind.importing import InvalidImport, parse
from visavis.mind.schemas import StoryIn, parse_when

JSONL = """\
{"type": "fact", "statement": "I live in Lisbon.", "subject": "home city"}
{"statement": "I speak Portuguese."}

{"type": "story", "title": "The night train", "text": "We missed the last train.", \
"tags": ["travel"], "when": "2014-07"}
{"title": "No type, but a title", "text": "A story all the same."}
"""


def test_jsonl_facts_and_stories_with_defaults_for_the_type() -> None:
    items = parse(JSONL, "jsonl")
    assert [type(i).__name__ for i in items] == ["FactIn", "FactIn", "StoryIn", "StoryIn"]
    assert items[0].subject == "home city"  # type: ignore[union-attr]
    story = items[2]
    assert isinstance(story, StoryIn)
    assert story.when == datetime(2014, 7, 1, tzinfo=UTC) and story.tags == ["travel"]


def test_jsonl_with_broken_lines_lists_each_with_its_number() -> None:
    text = (
        '{"type": "fact", "statement": "Fine."}\n'
        "{not json\n"
        '{"type": "fact", "statement": ""}\n'
        '{"type": "poem", "text": "x"}\n'
        '{"type": "story", "title": "T", "text": "x", "when": "last summer"}\n'
        '{"type": "fact", "statement": "Fine.", "colour": "red"}\n'
    )
    with pytest.raises(InvalidImport) as caught:
        parse(text, "jsonl")
    lines = [p.line for p in caught.value.problems]
    assert lines == [2, 3, 4, 5, 6]
    assert "not JSON" in caught.value.problems[0].message
    assert "statement" in caught.value.problems[1].message
    assert "2019-05" in caught.value.problems[3].message  # says how to write a date
    assert "colour" in caught.value.problems[4].message
    assert caught.value.message.startswith("line 2:") and "nothing was imported" in (
        caught.value.message
    )
    assert caught.value.problem_extra["broken_lines"] == 5


MARKDOWN = """\
# The night train
When: 2014-07
Tags: travel, trains

We missed the last train out of Porto.
So we walked along the river until dawn.

## My first robot
It could only turn left.
"""


def test_markdown_one_story_per_heading_with_metadata_lines() -> None:
    items = parse(MARKDOWN, "markdown")
    assert all(isinstance(i, StoryIn) for i in items)
    first, second = items
    assert isinstance(first, StoryIn) and isinstance(second, StoryIn)
    assert first.title == "The night train" and first.tags == ["travel", "trains"]
    assert first.when == datetime(2014, 7, 1, tzinfo=UTC)
    assert first.text.startswith("We missed") and first.text.endswith("dawn.")
    assert second.title == "My first robot" and second.text == "It could only turn left."


def test_markdown_refuses_text_before_a_heading_and_empty_stories() -> None:
    with pytest.raises(InvalidImport) as caught:
        parse(
            "Some preface.\n# Empty\n\n# Fine\nText.\n# Bad date\nWhen: soon\nText.\n", "markdown"
        )
    problems = {p.line: p.message for p in caught.value.problems}
    assert set(problems) == {1, 2, 6}
    assert "before the first heading" in problems[1]
    assert "no text" in problems[2]
    with pytest.raises(InvalidInputError, match="no story"):
        parse("\n\n", "markdown")


def test_binary_content_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not text"):
        parse("\x00\x01binary", "jsonl")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019", datetime(2019, 1, 1, tzinfo=UTC)),
        ("2019-05", datetime(2019, 5, 1, tzinfo=UTC)),
        ("2019-05-17", datetime(2019, 5, 17, tzinfo=UTC)),
        ("2019-05-17T10:00:00+02:00", datetime(2019, 5, 17, 8, 0, tzinfo=UTC)),
    ],
)
def test_dates_of_any_precision(text: str, expected: datetime) -> None:
    parsed = parse_when(text)
    assert parsed is not None and parsed == expected
