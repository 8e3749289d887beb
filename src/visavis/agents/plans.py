"""Interview plans: what the built-in interviewer asks, validated so tenants can store their own."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
)

from visavis.agents.errors import AgentError
from visavis.errors import InvalidInputError
from visavis.stored_text import check_storable

DEFAULT_PLAN_FILE = "software_engineer.json"

# Stored in either database and spoken: no NUL, no lone surrogate (see ``stored_text``).
SpokenText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=600),
    AfterValidator(check_storable),
]
Keyword = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=60),
    AfterValidator(check_storable),
]

DEFAULT_PROBES: tuple[str, ...] = (
    "Could you give me a concrete example?",
    "Can you tell me a bit more about that?",
    "What was your own part in that, specifically?",
    "How did that turn out in the end?",
)


class InvalidPlan(AgentError, InvalidInputError):
    """An interview plan that does not validate; the message lists what to fix."""

    code = "invalid_interview_plan"


class PlanQuestion(BaseModel):
    """One main question, with optional follow-ups for short or vague answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: SpokenText
    follow_ups: tuple[SpokenText, ...] = Field(default=(), max_length=5)
    #: Words that show the answer is on topic; the interviewer reflects them back.
    keywords: tuple[Keyword, ...] = Field(default=(), max_length=40)
    #: How many follow-ups at most before moving on (the plan's probes fill in when
    #: ``follow_ups`` is shorter).
    max_follow_ups: StrictInt = Field(default=1, ge=0, le=5)


class InterviewPlan(BaseModel):
    """A structured interview: greeting, questions in order, closing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: SpokenText
    role: SpokenText
    interviewer_name: Keyword = "Ava"
    greeting: SpokenText
    questions: tuple[PlanQuestion, ...] = Field(min_length=1, max_length=40)
    closing: SpokenText
    #: Generic follow-ups used when a question has no (more) follow-ups of its own.
    probes: tuple[SpokenText, ...] = Field(default=DEFAULT_PROBES, min_length=1, max_length=20)
    #: Answers with fewer words than this count as short (a follow-up may be asked).
    min_answer_words: StrictInt = Field(default=10, ge=1, le=200)
    #: Names and terms candidates are likely to say (the company, its products, the field's
    #: jargon): the speech recognizer spells them as written, after the conversation's own.
    vocabulary: tuple[Keyword, ...] = Field(default=(), max_length=50)


def parse_plan(data: str | bytes | Mapping[str, Any]) -> InterviewPlan:
    """Validate a plan given as JSON text or a mapping; raises ``InvalidPlan``."""
    try:
        if isinstance(data, str | bytes):
            return InterviewPlan.model_validate_json(data)
        return InterviewPlan.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'plan'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidPlan(f"the interview plan is not valid: {problems}") from exc


def load_stored_plan(stored: Mapping[str, Any]) -> InterviewPlan:
    """A plan as read back from the database. Rows stored before texts were checked may hold
    a NUL or a lone surrogate: those characters are dropped, so the plan still speaks."""
    return parse_plan(_storable(stored))


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return "".join(c for c in value if c != "\x00" and not 0xD800 <= ord(c) <= 0xDFFF)
    if isinstance(value, Mapping):
        return {key: _storable(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(child) for child in value]
    return value


@functools.cache
def load_default_plan() -> InterviewPlan:
    """The plan that ships with Visavis (a software-engineering interview); cached."""
    plans = resources.files("visavis.agents").joinpath("plans")
    text = plans.joinpath(DEFAULT_PLAN_FILE).read_text("utf-8")
    return parse_plan(json.loads(text))
