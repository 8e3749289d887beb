from __future__ import annotations

import json

import pytest

from visavis.agents import InterviewPlan, InvalidPlan, load_default_plan
from visavis.agents.plans import parse_plan
from visavis.errors import InvalidInputError


def test_default_plan_round_trips_through_json() -> None:
    plan = load_default_plan()
    assert parse_plan(plan.model_dump_json()) == plan
    assert parse_plan(json.loads(plan.model_dump_json())) == plan


def test_invalid_plan_says_what_to_fix() -> None:
    with pytest.raises(InvalidPlan) as caught:
        parse_plan({"title": "T", "role": "R", "greeting": " ", "questions": [], "closing": "Bye"})
    message = caught.value.message
    assert "greeting" in message
    assert "questions" in message
    assert isinstance(caught.value, InvalidInputError)


def test_unknown_fields_and_bad_json_are_refused() -> None:
    with pytest.raises(InvalidPlan, match="surprise"):
        parse_plan(
            {
                "title": "T",
                "role": "R",
                "greeting": "Hi",
                "questions": [{"text": "Q?"}],
                "closing": "Bye",
                "surprise": 1,
            }
        )
    with pytest.raises(InvalidPlan):
        parse_plan("{not json")


def test_text_is_stripped_and_limits_apply() -> None:
    plan = parse_plan(
        {
            "title": " T ",
            "role": "R",
            "greeting": "Hi ",
            "questions": [{"text": " Q? "}],
            "closing": "Bye",
        }
    )
    assert plan.greeting == "Hi"
    assert plan.questions[0].text == "Q?"
    assert isinstance(plan, InterviewPlan)
    with pytest.raises(InvalidPlan, match="max_follow_ups"):
        parse_plan(
            {
                "title": "T",
                "role": "R",
                "greeting": "Hi",
                "questions": [{"text": "Q?", "max_follow_ups": 9}],
                "closing": "Bye",
            }
        )


def test_unstorable_text_is_refused_in_a_new_plan_and_dropped_from_an_old_one() -> None:
    from visavis.agents.plans import InvalidPlan, load_default_plan, load_stored_plan, parse_plan

    stored = load_default_plan().model_dump(mode="json")
    stored["greeting"] = "Hel\x00lo and welcome."
    with pytest.raises(InvalidPlan) as refused:
        parse_plan(stored)
    assert "NUL" in refused.value.message
    stored["greeting"] = "Hel\x00lo and wel\ud800come."
    with pytest.raises(InvalidPlan):
        parse_plan(stored)
    # A row written before texts were checked still gives a plan that can be spoken.
    assert load_stored_plan(stored).greeting == "Hello and welcome."
