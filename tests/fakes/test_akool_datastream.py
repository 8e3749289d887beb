"""The Akool fake's data-stream checks really refuse what Agora and Akool would refuse."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.akool import AkoolServer, serve_akool
from tests.fakes.akool_datastream import DataStreamChecker


def chat(mid: str, idx: int, fin: bool, text: str) -> bytes:
    message = {"v": 2, "type": "chat", "mid": mid, "idx": idx, "fin": fin, "pld": {"text": text}}
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def padded(size: int, mid: str = "m", idx: int = 0, fin: bool = False) -> bytes:
    """A well-formed chat chunk of exactly ``size`` bytes."""
    data = chat(mid, idx, fin, "x" * (size - len(chat(mid, idx, fin, ""))))
    assert len(data) == size
    return data


def kinds(found: list[dict]) -> list[str]:
    return [v["kind"] for v in found]


def test_a_message_over_1024_bytes_is_rejected_and_one_over_950_is_flagged() -> None:
    checker = DataStreamChecker()
    assert kinds(checker.check(padded(1025), now=0.0, session_id="s")) == ["message_too_large"]
    assert kinds(checker.check(padded(1024), now=0.0, session_id="s")) == ["over_chunk_budget"]
    assert kinds(checker.check(padded(950, idx=1), now=0.0, session_id="s")) == []
    assert [a["bytes"] for a in checker.accepted] == [1024, 950]


def test_more_than_6000_bytes_in_any_second_is_rejected() -> None:
    checker = DataStreamChecker(chunk_budget_bytes=1024)
    for idx in range(6):  # 6 × 1,000 bytes within half a second: exactly at the limit
        assert checker.check(padded(1000, idx=idx), now=idx * 0.1, session_id="s") == []
    late = checker.check(padded(1000, idx=6), now=0.9, session_id="s")
    assert kinds(late) == ["rate_exceeded"] and late[0]["window_bytes"] == 7000
    # The refused bytes do not count; one second after the first message it leaves the window.
    assert checker.check(padded(1000, idx=6), now=1.0, session_id="s") == []
    assert checker.peak_window_bytes == 6000


def test_a_burst_after_a_quiet_second_is_judged_on_its_own_window() -> None:
    checker = DataStreamChecker()
    sizes = [950] * 6
    for idx, size in enumerate(sizes):
        assert checker.check(padded(size, idx=idx), now=0.0, session_id="s") == []
    assert kinds(checker.check(padded(950, idx=6), now=0.999, session_id="s")) == ["rate_exceeded"]
    assert checker.check(padded(950, idx=6), now=1.0, session_id="s") == []


def test_a_pacer_at_6000_bytes_per_second_with_950_byte_messages_overshoots_a_window() -> None:
    # Sending a 950-byte message every 950/6000 s puts 7 messages (6,650 bytes) in one second.
    checker = DataStreamChecker()
    found = [
        checker.check(padded(950, idx=idx), now=idx * 950 / 6000, session_id="s")
        for idx in range(8)
    ]
    assert "rate_exceeded" in kinds([v for f in found for v in f])


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "bad_shape"),
        (b'{"v":1,"type":"chat","mid":"m","idx":0,"fin":true,"pld":{"text":"a"}}', "bad_version"),
        (b'{"type":"chat","mid":"m","idx":0,"fin":true,"pld":{"text":"a"}}', "bad_version"),
        (b'{"v":2,"type":"audio","mid":"m","pld":{}}', "unknown_type"),
        (b'{"v":2,"type":"command","mid":"m","pld":{"cmd":"dance"}}', "unknown_command"),
        (b'{"v":2,"type":"command","mid":"m","pld":{"cmd":"set-params","data":[1]}}', "bad_shape"),
        (b'{"v":2,"type":"chat","mid":"","idx":0,"fin":true,"pld":{"text":"a"}}', "bad_shape"),
        (b'{"v":2,"type":"chat","mid":"m","idx":-1,"fin":true,"pld":{"text":"a"}}', "bad_shape"),
        (b'{"v":2,"type":"chat","mid":"m","idx":0,"fin":"yes","pld":{"text":"a"}}', "bad_shape"),
        (b'{"v":2,"type":"chat","mid":"m","idx":0,"fin":true,"pld":{"text":1}}', "bad_shape"),
        (b'{"v":2,"type":"chat","mid":"m","idx":1,"fin":true,"pld":{"text":"a"}}', "bad_sequence"),
    ],
)
def test_malformed_messages_are_refused(raw: bytes, kind: str) -> None:
    checker = DataStreamChecker()
    assert kinds(checker.check(raw, now=0.0, session_id="s")) == [kind]
    assert checker.accepted == []


def test_chunks_must_follow_each_other_and_stop_at_fin() -> None:
    checker = DataStreamChecker()
    assert checker.check(chat("a", 0, False, "One "), now=0, session_id="s") == []
    assert checker.check(chat("b", 0, True, "Other."), now=0, session_id="s") == []
    assert kinds(checker.check(chat("a", 2, False, "?"), now=0, session_id="s")) == ["bad_sequence"]
    assert checker.check(chat("a", 1, True, "two."), now=0, session_id="s") == []
    assert kinds(checker.check(chat("a", 2, True, "!"), now=0, session_id="s")) == ["bad_sequence"]
    assert checker.chat_texts() == {"a": "One two.", "b": "Other."}


@pytest.fixture(scope="module")
def server() -> Iterator[AkoolServer]:
    with serve_akool() as running:
        yield running


def ready_session(server: AkoolServer) -> str:
    created = httpx.post(
        f"{server.base_url}/api/open/v4/liveAvatar/session/create",
        headers={"x-api-key": "test-akool-key"},
        json={"avatar_id": "a", "duration": 60},
    ).json()["data"]
    for _ in range(2):
        httpx.get(
            f"{server.base_url}/api/open/v4/liveAvatar/session/detail",
            headers={"x-api-key": "test-akool-key"},
            params={"id": created["_id"]},
        )
    return str(created["_id"])


def test_the_http_endpoint_answers_each_verdict_and_lists_violations(server: AkoolServer) -> None:
    server.fake.reset()
    server.configure(window_s=60.0)  # the verdicts below must not depend on the test's speed
    session_id = ready_session(server)
    url = f"{server.base_url}/_fake/datastream/{session_id}"
    assert httpx.post(url, content=chat("m", 0, True, "Hi")).status_code == 200
    assert httpx.post(url, content=padded(1100)).status_code == 413
    assert httpx.post(url, content=b'{"v":3}').status_code == 400
    flagged = httpx.post(url, content=padded(1000, mid="n"))
    assert flagged.status_code == 200 and flagged.json()["accepted"] is True
    for idx in range(1, 5):
        assert httpx.post(url, content=padded(1000, mid="n", idx=idx)).status_code == 200
    limited = httpx.post(url, content=padded(1000, mid="n", idx=5))
    assert limited.status_code == 429 and limited.json()["accepted"] is False
    violations = httpx.get(f"{server.base_url}/_fake/violations").json()
    assert [v["kind"] for v in violations] == [
        "message_too_large",
        "bad_version",
        *["over_chunk_budget"] * 5,
        "rate_exceeded",
    ]
    assert httpx.get(url).json()["chat_texts"]["m"] == "Hi"
    assert (
        httpx.post(f"{server.base_url}/_fake/datastream/unknown", content=b"{}").status_code == 404
    )


def test_a_session_that_is_not_ready_or_closed_takes_no_messages(server: AkoolServer) -> None:
    server.fake.reset()
    created = httpx.post(
        f"{server.base_url}/api/open/v4/liveAvatar/session/create",
        headers={"x-api-key": "test-akool-key"},
        json={"avatar_id": "a", "duration": 60},
    ).json()["data"]
    url = f"{server.base_url}/_fake/datastream/{created['_id']}"
    assert httpx.post(url, content=chat("m", 0, True, "Hi")).json()["violations"][0]["kind"] == (
        "session_not_ready"
    )
    server.fake.kill_sessions([created["_id"]])
    assert httpx.post(url, content=chat("m", 0, True, "Hi")).json()["violations"][0]["kind"] == (
        "session_not_open"
    )
