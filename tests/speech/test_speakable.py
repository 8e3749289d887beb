"""What a voice can say of a sentence: scripts, spelled-out floods, fallbacks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visavis.speech.speakable import (
    FALLBACK_VOICES,
    SkipReason,
    SpeechSkipped,
    assess,
    language_of,
    script_of,
    speaks_well,
)

CJK = "我们今天讨论一下这个项目的进展情况以及下一步的计划"
FALLBACKS = {script: voices[0] for script, voices in FALLBACK_VOICES.items()}


def test_scripts_of_letters() -> None:
    assert script_of("a") == "LATIN"
    assert script_of("é") == "LATIN"
    assert script_of("我") == "HAN"
    assert script_of("д") == "CYRILLIC"
    assert script_of("ひ") == "HIRAGANA"
    assert script_of("한") == "HANGUL"
    assert script_of("7") is None and script_of("#") is None
    assert language_of("en-us") == "en" and language_of("en-us+f3") == "en"


def test_ordinary_english_is_said_as_is() -> None:
    said = assess("Hello there, how are you today?", voice="en-us")
    assert said.text == "Hello there, how are you today?"
    assert said.voice is None and said.dropped == 0


def test_a_sentence_in_a_script_the_voice_cannot_speak_is_skipped_with_its_reason() -> None:
    with pytest.raises(SpeechSkipped) as skipped:
        assess(CJK, voice="en-us", fallbacks=FALLBACKS)
    assert skipped.value.reason is SkipReason.UNSUPPORTED_SCRIPT
    assert skipped.value.text == CJK
    assert "Han" in skipped.value.message


def test_a_script_with_a_fallback_voice_goes_to_it() -> None:
    said = assess("Привет, как дела?", voice="en-us", fallbacks=FALLBACKS)
    assert said.voice == "ru" and said.script == "CYRILLIC"
    with pytest.raises(SpeechSkipped):
        assess("Привет, как дела?", voice="en-us")  # no fallbacks offered


def test_a_few_foreign_letters_are_left_out_of_an_english_sentence() -> None:
    said = assess("I really like 寿司 with friends.", voice="en-us", fallbacks=FALLBACKS)
    assert said.voice is None
    assert "寿" not in said.text and said.text.startswith("I really like")
    assert said.dropped >= 2


def test_the_voices_own_script_is_spoken_by_it() -> None:
    assert assess(CJK, voice="cmn").voice is None
    assert assess("Привет", voice="ru").voice is None


@pytest.mark.parametrize(
    "sentence",
    [
        "@#$%^&*~|<>{}[] " * 5,
        "550e8400-e29b-41d4-a716-446655440000 is the id",
        "1234567890123456789012345678901234567890",
        "%$ &* @@ ## ^^ ~~ || <> == ++ -- ** ## !! $$ %% ^^ &&",
    ],
)
def test_a_flood_of_spelled_out_characters_is_skipped(sentence: str) -> None:
    with pytest.raises(SpeechSkipped) as skipped:
        assess(sentence, voice="en-us")
    assert skipped.value.reason in (SkipReason.SYMBOL_FLOOD, SkipReason.NOTHING_TO_SAY)


@pytest.mark.parametrize(
    "sentence",
    [
        "Call me at 555-123-4567 tomorrow.",
        "It costs $1,234.50 in 2024, about 12% more.",
        "Version 3.11 is out!",
        "Well... maybe? (I think so.)",
    ],
)
def test_ordinary_numbers_and_punctuation_are_kept(sentence: str) -> None:
    assert assess(sentence, voice="en-us").text == sentence


def test_decorative_runs_are_left_out_and_the_words_kept() -> None:
    said = assess("==== Results ==== are in #### now ~~~~", voice="en-us")
    assert said.text == "Results are in now"


def test_control_characters_and_nul_are_never_spoken() -> None:
    said = assess("Hel\x00lo the\x07re", voice="en-us")
    assert said.text == "Hello there"


def test_the_fallback_quality_gate_spots_a_voice_reading_another_language() -> None:
    assert speaks_well([["p", "rʲ", "i"], ["k", "a", "k"]])
    assert not speaks_well([["(en)", "n", "ɪ"], ["(en)", "h", "ɛ", "n"], ["s", "i"]])
    assert not speaks_well([])


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_any_text_is_either_said_with_bounded_length_or_skipped_with_a_reason(text: str) -> None:
    try:
        said = assess(text, voice="en-us", fallbacks=FALLBACKS)
    except SpeechSkipped as skipped:
        assert isinstance(skipped.reason, SkipReason)
        return
    assert len(said.text) <= len(text)
    assert any(c.isalnum() for c in said.text)
    assert "\x00" not in said.text
