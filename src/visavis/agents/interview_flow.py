"""The built-in interviewer's decisions, as pure functions of the chat history.

The position in the plan is replayed from the history on every turn, so the interviewer
keeps no state and resumes exactly after a reconnect. Each non-empty assistant message is
one delivered step; the user messages after it are the answer to that step.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from visavis.agents.base import INTERRUPTED_MARK, Message
from visavis.agents.plans import InterviewPlan

StepKind = Literal[
    "greeting", "question", "follow_up", "repeat", "resume", "closing", "after_close"
]

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_VAGUE = re.compile(
    r"\b(i don'?t know|not sure|no idea|i guess|maybe|kind of|sort of|stuff|things|whatever|"
    r"something like that|etc|dunno|nothing much|can'?t remember)\b",
    re.IGNORECASE,
)
_REPEAT_REQUEST = re.compile(
    r"\b(repeat|say (that|it) again|come again|pardon|didn'?t (catch|hear|understand)|"
    r"what was the question)\b",
    re.IGNORECASE,
)
_STOP_REQUEST = re.compile(
    r"\b(stop|end|finish|quit)\s+(the|this|our)\s+(interview|conversation|call)\b|"
    r"\b(let'?s|can we|could we|i'?d like to|i want to)\s+(stop|end|finish|quit)\s+(here|now)\b",
    re.IGNORECASE,
)
#: Requests to repeat or to stop are short; in a longer answer those words are content.
_REQUEST_MAX_WORDS = 15
_NOT_REFLECTABLE = frozenset(
    {"i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "yes", "no", "well", "so", "and", "but"}
)

_ACKS_REFLECTING = (
    "Thanks, it's useful to hear about {topic} in your work.",
    "Good point about {topic}.",
    "Interesting, I noted what you said about {topic}.",
    "I appreciate the detail on {topic}, thank you.",
    "Thank you, the part about {topic} is helpful.",
)
_ACKS = (
    "Thank you, that's helpful.",
    "Got it, thanks for explaining.",
    "Okay, that makes sense.",
    "Thanks for sharing that.",
    "I see, thank you.",
)
_ACKS_BRIEF = ("Okay, thank you.", "Alright, thanks.", "Understood.", "Okay, noted.")
_TRANSITIONS = ("Next question.", "Let's move on.", "Here's the next one.", "Moving on.")
_REPEATS = (
    "Of course, let me repeat that.",
    "Sure, here it is again.",
    "No problem, I'll say it again.",
    "Certainly, once more.",
)
_RESUMES = (
    "Sure. Where was I?",
    "Of course. Let me go on.",
    "No problem. As I was asking:",
    "Alright, let me finish my question.",
)
_SILENCE = (
    "Sorry, I didn't catch an answer.",
    "I didn't hear anything there.",
    "Take your time.",
    "Sorry, I missed that.",
)
_AFTER_CLOSE = (
    "The interview is already complete, thank you again for your time. Goodbye.",
    "We're all done for today. Thanks again, and goodbye.",
    "That's the end of our interview. Thank you, and take care.",
    "Thanks again, the interview is finished. Goodbye.",
)


@dataclass(frozen=True, slots=True)
class Step:
    """One reply of the interviewer: what it does and where it stands in the plan."""

    kind: StepKind
    question_index: int
    follow_ups_asked: int = 0
    #: How many steps were delivered before this one (varies the wording).
    turn: int = 0
    #: The user cut this step off before hearing what it asks.
    cut: bool = False


def replay(plan: InterviewPlan, messages: Sequence[Message]) -> tuple[Step | None, str | None]:
    """The last delivered step (None before the greeting) and the answer given to it.

    The answer is None when the user has said nothing since that step.
    """
    last: Step | None = None
    answer: list[str] = []
    for message in messages:
        content = message.content
        if message.role == "assistant" and content.strip().removesuffix("—").strip():
            last = first_step() if last is None else next_step(plan, last, " ".join(answer))
            if content.endswith(INTERRUPTED_MARK) and not _heard_prompt(plan, last, content):
                last = dataclasses.replace(last, cut=True)
            answer = []
        elif message.role == "user" and last is not None:
            answer.append(message.content)
    return last, (" ".join(answer) if answer else None)


def _heard_prompt(plan: InterviewPlan, step: Step, content: str) -> bool:
    """Whether the user heard what ``step`` asks before cutting it off."""
    if step.kind in ("closing", "after_close"):
        return plan.closing in content or step.kind == "after_close"
    return prompt_of(plan, step) in content


def first_step() -> Step:
    return Step("greeting", 0)


def next_step(plan: InterviewPlan, previous: Step, answer: str) -> Step:
    """What the interviewer does after ``previous`` was answered with ``answer``."""
    turn = previous.turn + 1
    if previous.kind in ("closing", "after_close"):
        return Step("after_close", len(plan.questions), turn=turn)
    index, asked = previous.question_index, previous.follow_ups_asked
    request = _word_count(answer) <= _REQUEST_MAX_WORDS
    if request and _STOP_REQUEST.search(answer):
        return Step("closing", len(plan.questions), turn=turn)
    if previous.cut:
        # What it asked was not heard: say it again rather than take this as the answer.
        kind: StepKind = "closing" if previous.kind == "closing" else "resume"
        return Step(kind, index, asked, turn=turn)
    if not answer.strip() or (request and _REPEAT_REQUEST.search(answer)):
        return Step("repeat", index, asked, turn=turn)
    if is_short_or_vague(answer, plan.min_answer_words) and asked < (
        plan.questions[index].max_follow_ups
    ):
        return Step("follow_up", index, asked + 1, turn=turn)
    if index + 1 < len(plan.questions):
        return Step("question", index + 1, turn=turn)
    return Step("closing", len(plan.questions), turn=turn)


def is_short_or_vague(answer: str, min_words: int) -> bool:
    """Fewer words than ``min_words``, or not much longer and hedging ("not sure", "stuff")."""
    words = _word_count(answer)
    return words < min_words or (words < 2 * min_words and _VAGUE.search(answer) is not None)


def _word_count(text: str) -> int:
    return len(_WORD.findall(text))


def compose(plan: InterviewPlan, step: Step, answer: str | None, previous: Step | None) -> str:
    """The full text of ``step``, acknowledging ``answer`` (the reply to ``previous``)."""
    said = answer or ""
    if step.kind == "greeting":
        return f"{plan.greeting} {plan.questions[0].text}"
    if step.kind == "after_close":
        return _pick(_AFTER_CLOSE, step.turn, said)
    if step.kind == "repeat":
        lead = _pick(_SILENCE if not said.strip() else _REPEATS, step.turn, said)
        return f"{lead} {prompt_of(plan, step)}"
    if step.kind == "resume":
        return f"{_pick(_RESUMES, step.turn, said)} {prompt_of(plan, step)}"
    if step.kind == "follow_up":
        return f"{_pick(_ACKS_BRIEF, step.turn, said)} {prompt_of(plan, step)}"
    ack = acknowledge(plan, previous, said, step.turn)
    if step.kind == "closing":
        return f"{ack} {plan.closing}"
    last = step.question_index == len(plan.questions) - 1
    transition = "And one last question." if last else _pick(_TRANSITIONS, step.turn, said)
    return f"{ack} {transition} {plan.questions[step.question_index].text}"


def prompt_of(plan: InterviewPlan, step: Step) -> str:
    """The question or follow-up that ``step`` asked (what a repeat says again)."""
    if step.question_index >= len(plan.questions):
        return plan.closing
    question = plan.questions[step.question_index]
    if step.follow_ups_asked == 0:
        return question.text
    number = step.follow_ups_asked - 1
    if number < len(question.follow_ups):
        return question.follow_ups[number]
    return plan.probes[(step.question_index + number) % len(plan.probes)]


def acknowledge(plan: InterviewPlan, answered: Step | None, answer: str, turn: int) -> str:
    """A varied acknowledgement, reflecting a topic of the answer when one stands out."""
    if is_short_or_vague(answer, plan.min_answer_words):
        return _pick(_ACKS_BRIEF, turn, answer)
    keywords = () if answered is None else _keywords_of(plan, answered)
    topic = reflected_topic(answer, keywords)
    if topic is not None:
        return _pick(_ACKS_REFLECTING, turn, answer).format(topic=topic)
    return _pick(_ACKS, turn, answer)


def reflected_topic(answer: str, keywords: Sequence[str]) -> str | None:
    """The plan keyword that appears first in the answer, else a capitalized term in it."""
    found: list[tuple[int, str]] = []
    for keyword in keywords:
        # Short or all-caps keywords ("Go", "CI", "API") must match their case exactly.
        flags = 0 if len(keyword) <= 3 or keyword.isupper() else re.IGNORECASE
        match = re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", answer, flags)
        if match is not None:
            found.append((match.start(), keyword))
    if found:
        return min(found)[1]
    # A capitalized word that does not open a sentence is usually a name or a technology.
    for match in re.finditer(r"(?<=[^\s.!?]\s)([A-Z][\w+#.-]*[\w+#])", answer):
        term = match.group(1)
        if term.lower() not in _NOT_REFLECTABLE and len(term) > 1:
            return term
    return None


def _keywords_of(plan: InterviewPlan, step: Step) -> tuple[str, ...]:
    if step.question_index >= len(plan.questions):
        return ()
    return plan.questions[step.question_index].keywords


def _pick(options: Sequence[str], turn: int, answer: str) -> str:
    # Consecutive turns move 1-3 places along the list, so with 4+ options the wording
    # never repeats twice in a row; the answer's hash varies it beyond a fixed rotation.
    bit = zlib.crc32(answer.encode("utf-8")) & 1
    return options[(2 * turn + bit) % len(options)]
