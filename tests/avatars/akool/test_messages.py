"""Akool data-stream messages: exact bytes, the text budget, and the fake's verdict on them."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.akool import AkoolServer
from visavis.avatars.akool import messages
from visavis.avatars.akool.api import AkoolAPI
from visavis.avatars.errors import DataStreamMessageTooLarge


def test_a_chat_chunk_is_compact_json_in_the_demo_key_order() -> None:
    data = messages.chat_message(mid="m1", idx=0, fin=True, text="Hello")
    assert data == b'{"v":2,"type":"chat","mid":"m1","idx":0,"fin":true,"pld":{"text":"Hello"}}'


def test_text_is_utf8_not_unicode_escaped_and_json_specials_are_escaped() -> None:
    data = messages.chat_message(mid="m", idx=1, fin=False, text='Grüße "du"\n\\ 日本')
    assert 'Grüße \\"du\\"\\n\\\\ 日本'.encode() in data
    assert json.loads(data)["pld"]["text"] == 'Grüße "du"\n\\ 日本'
    assert messages.encoded_text_bytes("é") == 2
    assert messages.encoded_text_bytes('"') == 2
    assert messages.encoded_text_bytes("\x01") == 6


def test_a_lone_surrogate_is_escaped_as_json_stringify_does() -> None:
    data = messages.chat_message(mid="m", idx=0, fin=True, text="a\ud800b")
    assert b'"text":"a\\ud800b"' in data
    assert messages.encoded_text_bytes("a\ud800b") == 8


def test_chunks_of_one_message_count_from_zero_and_the_last_is_final() -> None:
    encoded = messages.chat_messages("m7", ["One ", "two ", "three."])
    parsed = [json.loads(item) for item in encoded]
    assert [(p["idx"], p["fin"], p["mid"]) for p in parsed] == [
        (0, False, "m7"),
        (1, False, "m7"),
        (2, True, "m7"),
    ]
    assert "".join(p["pld"]["text"] for p in parsed) == "One two three."
    with pytest.raises(ValueError):
        messages.chat_messages("m", [])


def test_commands_carry_cmd_and_data() -> None:
    interrupt = json.loads(messages.interrupt_message(mid="msg-1"))
    assert interrupt == {"v": 2, "type": "command", "mid": "msg-1", "pld": {"cmd": "interrupt"}}
    params = json.loads(messages.set_params_message({"vid": "v1", "lang": "en"}))
    assert params["pld"] == {"cmd": "set-params", "data": {"vid": "v1", "lang": "en"}}
    assert params["mid"].startswith("msg-") and params["mid"][4:].isdigit()
    with pytest.raises(DataStreamMessageTooLarge):
        messages.set_params_message({"prompt": "x" * 2000})


def test_a_chunk_over_the_limit_is_refused() -> None:
    budget = messages.chat_text_budget("m", 0)
    messages.chat_message(mid="m", idx=0, fin=False, text="a" * budget)
    with pytest.raises(DataStreamMessageTooLarge) as caught:
        messages.chat_message(mid="m", idx=0, fin=False, text="a" * (budget + 1))
    assert (caught.value.size, caught.value.limit) == (951, 950)


def test_the_budget_shrinks_as_the_envelope_grows() -> None:
    assert messages.chat_text_budget("m", 0) > messages.chat_text_budget("m", 10)
    assert messages.chat_text_budget("m", 0) > messages.chat_text_budget("m" * 30, 0)
    assert messages.chat_text_budget("m", 0, limit=1024) == messages.chat_text_budget("m", 0) + 74


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=1200),
    idx=st.integers(min_value=0, max_value=100_000),
    fin=st.booleans(),
    mid=st.text(min_size=1, max_size=40),
)
def test_text_within_the_budget_always_fits_and_text_over_it_never_does(
    text: str, idx: int, fin: bool, mid: str
) -> None:
    budget = messages.chat_text_budget(mid, idx)
    size = messages.encoded_text_bytes(text)
    if size <= budget:
        data = messages.chat_message(mid=mid, idx=idx, fin=fin, text=text)
        assert len(data) <= messages.MESSAGE_BYTES_BUDGET
        assert json.loads(data)["pld"]["text"] == text
    elif size > budget + (1 if fin else 0):  # "true" is one byte shorter than "false"
        with pytest.raises(DataStreamMessageTooLarge):
            messages.chat_message(mid=mid, idx=idx, fin=fin, text=text)


async def test_the_fake_data_stream_accepts_what_the_builders_make(akool: AkoolServer) -> None:
    api = AkoolAPI(api_key="test-akool-key", base_url=akool.base_url)
    try:
        session = await api.create_session(avatar_id="a", duration_s=60)
        await api.wait_until_ready(session.session_id, poll_interval_s=0.001)
    finally:
        await api.aclose()
    word = "ünïcødé "
    chunks: list[str] = []
    mid = messages.new_message_id()
    text = word * 300
    while text:  # fill each chunk to its budget, as a segmenter would (ignoring word ends)
        budget = messages.chat_text_budget(mid, len(chunks))
        size = len(text)
        while messages.encoded_text_bytes(text[:size]) > budget:
            size -= 1
        chunks.append(text[:size])
        text = text[size:]
    sent = [*messages.chat_messages(mid, chunks), messages.interrupt_message()]
    akool.configure(advance_clock_s=0)
    url = f"{akool.base_url}/_fake/datastream/{session.session_id}"
    async with httpx.AsyncClient() as client:
        for data in sent:
            akool.configure(advance_clock_s=0.2)  # 5 messages a second, < 6,000 B/s
            answer = await client.post(url, content=data)
            assert answer.status_code == 200, answer.json()
        summary = (await client.get(url)).json()
    assert summary["violations"] == []
    assert summary["chat_texts"] == {mid: word * 300}
    assert summary["commands"] == ["interrupt"]
    assert max(m["bytes"] for m in summary["messages"]) <= 950
