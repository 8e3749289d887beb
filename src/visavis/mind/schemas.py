"""Facts and stories as given by a person (API bodies, import lines), validated."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def parse_when(value: str | datetime | None) -> datetime | None:
    """``2019``, ``2019-05``, ``2019-05-17`` or an ISO timestamp, as a UTC datetime."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
    text = value.strip()
    match = _PARTIAL_DATE.match(text)
    try:
        if match:
            year, month, day = match.groups()
            return datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date: use 2019, 2019-05, or 2019-05-17") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FactIn(_Strict):
    """A short statement in the first person, e.g. "I live in Lisbon"."""

    type: Literal["fact"] = "fact"
    statement: str = Field(min_length=1, max_length=2000)
    subject: str | None = Field(
        default=None,
        max_length=200,
        description="What the fact gives a value for (e.g. 'home city'): a newer fact with "
        "the same subject replaces this one.",
    )
    source: str | None = Field(default=None, max_length=300)
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    _dates = field_validator("valid_from", "valid_until", mode="before")(parse_when)


class StoryIn(_Strict):
    """A story from the person's life: a title, the text, tags, and when it happened."""

    type: Literal["story"] = "story"
    title: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1, max_length=20000)
    tags: list[str] = Field(default_factory=list, max_length=30)
    when: datetime | None = None
    source: str | None = Field(default=None, max_length=300)

    _when = field_validator("when", mode="before")(parse_when)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        tags = [t.strip() for t in value if t.strip()]
        if any(len(t) > 50 for t in tags):
            raise ValueError("each tag must be at most 50 characters")
        return tags


class FactUpdate(_Strict):
    statement: str | None = Field(default=None, min_length=1, max_length=2000)
    subject: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=300)


class StoryUpdate(_Strict):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    text: str | None = Field(default=None, min_length=1, max_length=20000)
    tags: list[str] | None = Field(default=None, max_length=30)
    when: datetime | None = None
    source: str | None = Field(default=None, max_length=300)

    _when = field_validator("when", mode="before")(parse_when)


ItemIn = FactIn | StoryIn
