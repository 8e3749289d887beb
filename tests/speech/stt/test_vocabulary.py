"""Names and terms given to the recognizer are spelled as given: the prompt a conversation's
vocabulary makes, and Whisper (tiny.en, the live model) hearing a name it cannot know."""

from __future__ import annotations

import numpy as np
import pytest

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.vocabulary import MAX_PROMPT_CHARS, vocabulary_prompt
from visavis.speech.stt.whisper import FasterWhisperEngine

from .conftest import piper_speech

SAID = "My name is Siobhan Nakamura and I applied for the data role."
NAME = "Siobhan Nakamura"


def test_the_prompt_lists_each_term_once_in_order() -> None:
    assert vocabulary_prompt(["Siobhan Nakamura", " Heroku ", "heroku", "", "Kubernetes"]) == (
        "Names and terms: Siobhan Nakamura, Heroku, Kubernetes."
    )
    assert vocabulary_prompt(["  ", ""]) is None
    assert vocabulary_prompt(None) is None
    assert vocabulary_prompt(["New\n  York"]) == "Names and terms: New York."
    # Whisper keeps a prompt's last tokens: terms past what fits are left out, not the first.
    many = vocabulary_prompt([f"Term number {n:02d}" for n in range(50)])
    assert many is not None and len(many) <= MAX_PROMPT_CHARS
    assert many.startswith("Names and terms: Term number 00, Term number 01,")
    assert many.endswith(".") and "Term number 49" not in many


@pytest.mark.slow
@pytest.mark.parametrize("padded", [False, True], ids=["short", "padded-30s"])
async def test_whisper_spells_a_name_from_the_vocabulary(padded: bool) -> None:
    """Alone, Whisper spells the name by its sound; with the vocabulary, as given. Both ways
    of decoding take it: an utterance decoded short, and one too long for that (28 s)."""
    engine = FasterWhisperEngine(scheduler=DeadlineScheduler(1), partial_interval_s=None)
    speech = piper_speech(SAID)
    if padded:
        speech = np.concatenate([speech, np.zeros(16000 * 28 - len(speech), np.int16)])
    try:
        plain = await engine.transcribe(speech)
        told = await engine.transcribe(speech, prompt=vocabulary_prompt([NAME, "Heroku"]))
    finally:
        await engine.aclose()
    assert NAME.lower() not in plain.text.lower(), "the premise: unknown, it is misheard"
    assert NAME in told.text, told.text
    assert [w.text for w in told.words][3:5] == ["Siobhan", "Nakamura"]
    assert "Names and terms" not in told.text
