from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visavis.conversation.segmenter import SentenceSegmenter, chunk_utf8


def sentences_of(text: str, **options: int) -> list[str]:
    segmenter = SentenceSegmenter(**options)
    return segmenter.push(text) + segmenter.flush()


def streamed(deltas: list[str], **options: int) -> list[str]:
    segmenter = SentenceSegmenter(**options)
    result: list[str] = []
    for delta in deltas:
        result.extend(segmenter.push(delta))
    return result + segmenter.flush()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It costs $29.99 today. Pay now!", ["It costs $29.99 today.", "Pay now!"]),
        ("Pi is about 3.14 here. Fine then.", ["Pi is about 3.14 here.", "Fine then."]),
        ("Dr. Smith will see you. Please wait.", ["Dr. Smith will see you.", "Please wait."]),
        ("Use a tool, e.g. this one. It helps.", ["Use a tool, e.g. this one.", "It helps."]),
        ("I moved to the U.S. last year. Nice.", ["I moved to the U.S. last year.", "Nice."]),
        ("The U.S. Army is big. Really big.", ["The U.S. Army is big.", "Really big."]),
        (
            "See https://example.com/a.b?x=1 for more. Then call.",
            ["See https://example.com/a.b?x=1 for more.", "Then call."],
        ),
        ("Go to example.com. It is free.", ["Go to example.com.", "It is free."]),
        (
            'He said "Stop right there." Then he left.',
            ['He said "Stop right there."', "Then he left."],
        ),
        ("(This is an aside.) And the main point.", ["(This is an aside.)", "And the main point."]),
        ("Oh, really?! That is great.", ["Oh, really?!", "That is great."]),
        ("Yes! It is ready.", ["Yes! It is ready."]),
        ("Is it ready? It is, finally.", ["Is it ready?", "It is, finally."]),
        ("Wait... something is off. I see.", ["Wait... something is off.", "I see."]),
        ("Well… Let me think about it.", ["Well… Let me think about it."]),
        ("First clause here; second clause there.", ["First clause here;", "second clause there."]),
        ("Fix item No. 5 first. Then item two.", ["Fix item No. 5 first.", "Then item two."]),
        ("我们开始吧。你好吗？我很好！", ["我们开始吧。你好吗？", "我很好！"]),
        ("「今日は晴れです。」明日は雨です。", ["「今日は晴れです。」", "明日は雨です。"]),
        ("यह पहला वाक्य है। यह दूसरा वाक्य है।", ["यह पहला वाक्य है।", "यह दूसरा वाक्य है।"]),
        ("هل أنت بخير اليوم؟ أنا بخير.", ["هل أنت بخير اليوم؟", "أنا بخير."]),
        (
            "A list follows:\n- the first item\n- the second one",
            ["A list follows:", "- the first item", "- the second one"],
        ),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences_of(text) == expected
    assert streamed(list(text)) == expected


def test_decides_only_once_the_next_word_starts() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.push("The total is $29.") == []
    assert segmenter.push("99 today. ") == []
    assert segmenter.push('"') == []  # an opening quote is not yet a word
    assert segmenter.push("Next") == ["The total is $29.99 today."]
    assert segmenter.pending == ' "Next'
    assert segmenter.flush() == ['"Next']
    assert segmenter.pending == ""


def test_short_fragments_merge_with_the_next_sentence() -> None:
    # "Ok." and "Ok. Hi." are under 8 characters: they go with the next sentence.
    assert sentences_of("Ok. Hi. Here is the full answer. Bye.") == [
        "Ok. Hi. Here is the full answer.",
        "Bye.",
    ]
    assert sentences_of("Ok. Hi.", min_chars=0) == ["Ok.", "Hi."]


def test_long_sentence_is_cut_at_a_clause_break() -> None:
    text = "one two three four five, six seven eight nine ten eleven twelve thirteen fourteen"
    parts = sentences_of(text, max_chars=40)
    assert parts[0] == "one two three four five,"
    assert all(len(p) <= 40 for p in parts)
    assert " ".join(parts) == text


def test_clear_drops_the_pending_text() -> None:
    segmenter = SentenceSegmenter()
    segmenter.push("Half a sent")
    segmenter.clear()
    assert segmenter.flush() == []


def test_chunks_respect_utf8_bytes_at_word_boundaries() -> None:
    assert chunk_utf8("hello world this is a test", 11) == ["hello world", "this is a", "test"]
    # "é" is two bytes: 5 characters, 10 bytes.
    assert chunk_utf8("ééééé ab", 7) == ["ééé", "éé ab"]
    assert chunk_utf8("", 10) == []
    with pytest.raises(ValueError, match="at least 4"):
        chunk_utf8("abc", 3)


def test_chunks_never_cut_a_grapheme_cluster_that_fits() -> None:
    technologist = "👩🏽‍💻"  # woman, skin tone, zero-width joiner, laptop: 15 bytes
    assert chunk_utf8(technologist * 3, 16) == [technologist] * 3
    flags = "🇫🇷🇩🇪🇮🇹"
    assert chunk_utf8(flags, 9) == ["🇫🇷", "🇩🇪", "🇮🇹"]
    accented = "e\u0301" * 3
    assert chunk_utf8(accented, 4) == ["e\u0301"] * 3
    # A single cluster bigger than the limit is cut between code points.
    assert "".join(chunk_utf8(technologist, 8)) == technologist


# --- properties ---------------------------------------------------------------------------

WORDS = st.sampled_from(
    [
        "Hello",
        "world",
        "the",
        "U.S.",
        "e.g.",
        "Dr.",
        "$29.99",
        "3.5",
        "etc.",
        "Wait...",
        "really?!",
        "done.",
        "Yes!",
        "ok;",
        "example.com.",
        "https://a.b/c?d=1.",
        '"Quoted."',
        "(aside.)",
        "你好。",
        "谢谢！",
        "है।",
        "؟",
        "no.",
        "5",
        "…",
        "\u00e9t\u00e9.",
        "\n",
        "👩🏽‍💻",
        "a",
        "I",
        "x" * 30,
    ]
)
SEPARATORS = st.sampled_from([" ", " ", "  ", "\n", "", "\t"])
TEXTS = st.lists(st.tuples(WORDS | st.text(max_size=4), SEPARATORS), max_size=40).map(
    lambda pairs: "".join(word + sep for word, sep in pairs)
)


def without_space(text: str) -> str:
    return "".join(text.split())


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_any_split_into_deltas_gives_the_same_sentences(text: str, cuts: list[int]) -> None:
    points = sorted({c for c in cuts if c < len(text)} | {0, len(text)})
    deltas = [text[a:b] for a, b in zip(points, points[1:], strict=False)]
    whole = sentences_of(text, max_chars=60)
    assert streamed(deltas, max_chars=60) == whole
    assert without_space("".join(whole)) == without_space(text)
    assert all(s and s == s.strip() for s in whole)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, max_bytes=st.integers(min_value=4, max_value=64))
def test_chunks_rejoin_and_fit(text: str, max_bytes: int) -> None:
    chunks = chunk_utf8(text, max_bytes)
    assert without_space("".join(chunks)) == without_space(text)
    assert all(0 < len(c.encode("utf-8")) <= max_bytes for c in chunks)
    assert all(c == c.strip() for c in chunks)
    if all(len(w.encode("utf-8")) <= max_bytes for w in text.split()):
        assert [w for c in chunks for w in c.split()] == text.split()
