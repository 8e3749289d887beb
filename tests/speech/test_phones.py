from visavis.speech.phones import ipa_to_phones, merge_pauses, timed_phones
from visavis.speech.tts.base import PhoneTiming, split_sentences


def test_ipa_words_map_to_arpabet() -> None:
    assert ipa_to_phones("bˈɑːb") == ["B", "AA", "B"]
    assert ipa_to_phones("tʃˈɜːtʃ") == ["CH", "ER", "CH"]
    assert ipa_to_phones("həlˈoʊ") == ["HH", "AX", "L", "OW"]
    assert ipa_to_phones("ðˈɛɹ") == ["DH", "EH", "R"]


def test_unknown_letters_are_speech_and_punctuation_is_a_pause() -> None:
    assert ipa_to_phones("ʘ") == ["HH"]
    assert ipa_to_phones("a, b") == ["AA", "SIL", "B"]


def test_multi_phone_tokens_share_their_time() -> None:
    parts = timed_phones(["AA", "R"], 1.0, 2.0)
    assert parts[0].start == 1.0 and parts[-1].end == 2.0
    assert parts[0].end == parts[1].start


def test_merge_pauses_fills_gaps_and_joins_silences() -> None:
    merged = merge_pauses(
        [PhoneTiming("AA", 0.0, 0.1), PhoneTiming("SIL", 0.2, 0.3), PhoneTiming("SIL", 0.3, 0.5)]
    )
    assert [p.phone for p in merged] == ["AA", "SIL"]
    assert merged[1].start == 0.1 and merged[1].end == 0.5


def test_sentences_split_lazily_and_long_ones_are_cut() -> None:
    text = "Hello there. How are you? " + "word " * 200
    parts = list(split_sentences(text))
    assert parts[:2] == ["Hello there.", "How are you?"]
    assert all(len(p) <= 400 for p in parts)
    assert list(split_sentences("... !!")) == []
