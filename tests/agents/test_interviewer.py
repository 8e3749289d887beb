from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from visavis.agents import InterviewerAgent, InterviewerOptions, Message, load_default_plan
from visavis.agents.base import INTERRUPTED_MARK
from visavis.agents.plans import parse_plan

GOOD_ANSWERS = [
    "I'm a backend engineer; for four years I've built payment APIs in Python at a fintech "
    "startup, mostly around reconciliation and reporting.",
    "I rebuilt our reporting pipeline: the old design recomputed everything nightly, so I "
    "moved it to incremental updates with a queue and a cache, and reports became instant.",
    "Every change gets unit tests and integration tests in CI, plus a code review and type "
    "checking, and we refactor whenever a module gets hard to follow.",
    "Our database ran out of disk one night; the alerts and logs pointed at a runaway "
    "migration, we rolled back, and afterwards added monitoring on table growth.",
    "A colleague wanted microservices and I wanted a modular monolith; we built a small "
    "prototype of both, compared them with data, and reached a compromise.",
    "I'm looking for ownership of a product, mentoring from senior people, and a team with a "
    "healthy culture; I'd like to know how you plan releases.",
]

FAST = InterviewerOptions(delta_delay_s=0)


def run(agent: InterviewerAgent, answers: list[str]) -> list[Message]:
    """A conversation: the interviewer greets, then each answer gets a reply."""
    history = [Message("assistant", agent.reply_to([]))]
    for answer in answers:
        history.append(Message("user", answer))
        history.append(Message("assistant", agent.reply_to(history)))
    return history


def first_sentence(text: str) -> str:
    return text.split(". ")[0]


def test_full_interview_asks_every_question_in_order_then_closes() -> None:
    agent = InterviewerAgent(options=FAST)
    plan = agent.plan
    history = run(agent, GOOD_ANSWERS)
    replies = [m.content for m in history if m.role == "assistant"]
    assert replies[0].startswith(plan.greeting)
    for index, question in enumerate(plan.questions):
        assert replies[index].endswith(question.text)
    assert replies[-1].endswith(plan.closing)
    assert agent.wants_to_end(history)
    assert not agent.wants_to_end(history[:-2])


def test_acknowledgements_vary_and_reflect_the_answer() -> None:
    agent = InterviewerAgent(options=FAST)
    history = run(agent, GOOD_ANSWERS)
    acks = [first_sentence(m.content) for m in history[2::2]]
    assert all(a != b for a, b in zip(acks, acks[1:], strict=False))
    assert "backend" in history[2].content  # a keyword of the first question, said back


def test_short_answer_gets_a_follow_up_then_moves_on() -> None:
    agent = InterviewerAgent(options=FAST)
    plan = agent.plan
    history = run(agent, [GOOD_ANSWERS[0], "Not sure, some stuff."])
    assert history[-1].content.endswith(plan.questions[1].follow_ups[0])
    history = run(agent, [GOOD_ANSWERS[0], "Not sure.", "Hmm, no idea.", "Still nothing."])
    assert history[-3].content.endswith(plan.questions[1].follow_ups[1])
    # max_follow_ups (2) reached: the next question comes even after another vague answer.
    assert history[-1].content.endswith(plan.questions[2].text)


def test_asking_to_repeat_repeats_the_question() -> None:
    agent = InterviewerAgent(options=FAST)
    history = run(agent, [GOOD_ANSWERS[0], "Sorry, could you repeat the question?"])
    assert history[-1].content.endswith(agent.plan.questions[1].text)
    assert history[-1].content != history[-3].content


def test_asking_to_stop_closes_and_ends() -> None:
    agent = InterviewerAgent(options=FAST)
    history = run(agent, ["I want to stop the interview now, sorry."])
    assert history[-1].content.endswith(agent.plan.closing)
    assert agent.wants_to_end(history)
    history = run(agent, ["I want to stop the interview now, sorry.", "Bye!"])
    assert "Goodbye" in history[-1].content or "goodbye" in history[-1].content
    assert agent.wants_to_end(history)


def test_request_words_inside_a_real_answer_are_content() -> None:
    agent = InterviewerAgent(options=FAST)
    plan = agent.plan
    answer = (
        "We had to stop the conversation with the vendor and repeat the whole migration, "
        "which taught me to test rollbacks; I go to the team early now."
    )
    history = run(agent, [GOOD_ANSWERS[0], answer])
    assert history[-1].content.endswith(plan.questions[2].text)
    assert not agent.wants_to_end(history)
    assert "Go." not in history[-1].content  # "go" the verb is not the language Go


def test_position_comes_from_the_history_alone() -> None:
    history = run(InterviewerAgent(options=FAST), GOOD_ANSWERS[:3])
    # A new instance (as after a reconnect) continues exactly where the first one was.
    fresh = InterviewerAgent(options=FAST)
    assert fresh.reply_to(history[:-1]) == history[-1].content
    # Text typed before the greeting, and replies cut before any word was spoken, count for nothing.
    padded = [Message("user", "hello?"), *history[:-1]]
    padded.insert(4, Message("assistant", " "))
    assert fresh.reply_to(padded) == history[-1].content


async def test_streams_small_deltas_that_join_to_the_reply() -> None:
    agent = InterviewerAgent(options=InterviewerOptions(delta_delay_s=0, max_delta_chars=5))
    deltas = [d async for d in agent.stream([])]
    assert "".join(deltas) == agent.reply_to([])
    assert len(deltas) > 20
    assert all(0 < len(d) <= 5 for d in deltas)


async def test_stream_stops_when_closed_or_cancelled() -> None:
    agent = InterviewerAgent(options=InterviewerOptions(delta_delay_s=0.01))
    received: list[str] = []
    async with aclosing(agent.stream([])) as deltas:
        received.append(await anext(deltas))
    assert len(received) == 1

    async def consume() -> None:
        async for delta in agent.stream([]):
            received.append(delta)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 1 < len(received) < len(agent.reply_to([]).split())


def test_follows_a_custom_plan() -> None:
    plan = parse_plan(
        {
            "title": "Barista screening",
            "role": "Barista",
            "greeting": "Hi, thanks for coming in.",
            "questions": [{"text": "Why do you like coffee?", "max_follow_ups": 0}],
            "closing": "Thanks, we will call you.",
        }
    )
    agent = InterviewerAgent(plan, options=FAST)
    history = run(agent, ["Because it smells wonderful."])
    assert history[0].content == "Hi, thanks for coming in. Why do you like coffee?"
    assert history[-1].content.endswith("Thanks, we will call you.")
    assert agent.wants_to_end(history)


def test_default_plan_ships_with_follow_ups() -> None:
    plan = load_default_plan()
    assert plan.role == "Software Engineer"
    assert len(plan.questions) >= 5
    assert any(q.follow_ups for q in plan.questions)
    assert InterviewerAgent.greets_first


def test_a_reply_cut_off_before_its_question_resumes_the_question() -> None:
    agent = InterviewerAgent()
    plan = agent.plan
    greeting = agent.reply_to([])
    answer = "I have built Python and Go services for a logistics startup for five years now."
    reply = agent.reply_to([Message("assistant", greeting), Message("user", answer)])
    heard = reply.split()[0] + INTERRUPTED_MARK  # the user cut in after one word
    history = [
        Message("assistant", greeting),
        Message("user", answer),
        Message("assistant", heard),
        Message("user", "Sorry, please go on."),
    ]
    resumed = agent.reply_to(history)
    assert plan.questions[1].text in resumed, "the question that was cut off is asked again"
    # Heard in full before the interruption, the question counts as asked.
    history[2] = Message("assistant", reply + INTERRUPTED_MARK)
    history[3] = Message("user", "I rebuilt our routing service around a queue and a cache.")
    assert plan.questions[2].text in agent.reply_to(history)
