"""The provider fakes driven over HTTP, as a test in another process would drive them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.akool import AkoolServer, serve_akool
from tests.fakes.liveavatar import LiveAvatarServer, serve_liveavatar
from tests.fakes.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
LIVEAVATAR_KEY = {"X-API-KEY": "test-liveavatar-key"}
AKOOL_KEY = {"x-api-key": "test-akool-key"}
AVATAR = "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01"


@pytest.fixture(scope="module")
def liveavatar() -> Iterator[LiveAvatarServer]:
    with serve_liveavatar() as server:
        yield server


@pytest.fixture(scope="module")
def akool() -> Iterator[AkoolServer]:
    with serve_akool() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(liveavatar: LiveAvatarServer, akool: AkoolServer) -> None:
    liveavatar.fake.reset()
    akool.fake.reset()


def new_liveavatar_session(
    base_url: str, mode: str = "LITE", context_id: str | None = "ctx"
) -> tuple[str, str]:
    """A started session: its id and session token."""
    body: dict[str, object] = {"mode": mode, "avatar_id": AVATAR}
    if mode == "FULL" and context_id is not None:
        body["avatar_persona"] = {"context_id": context_id}
    token = httpx.post(f"{base_url}/v1/sessions/token", headers=LIVEAVATAR_KEY, json=body).json()[
        "data"
    ]
    bearer = {"Authorization": f"Bearer {token['session_token']}"}
    started = httpx.post(f"{base_url}/v1/sessions/start", headers=bearer)
    assert started.status_code == 201, started.text
    return token["session_id"], token["session_token"]


def test_knobs_are_set_over_http_and_bad_ones_change_nothing(liveavatar: LiveAvatarServer) -> None:
    url = f"{liveavatar.base_url}/_fake/config"
    knobs = httpx.post(url, json={"latency_s": 0.01, "fault_paths": ["start"]}).json()
    assert knobs["latency_s"] == 0.01 and knobs["fault_paths"] == ["start"]
    refused = httpx.post(url, json={"credits": 2, "no_such_knob": 1})
    assert refused.status_code == 400 and "no_such_knob" in refused.json()["error"]
    assert httpx.post(url, json={"credits": "many"}).status_code == 400
    assert httpx.get(url).json()["credits"] == 1000.0
    assert httpx.post(url, content=b"[1]").status_code == 400


def test_requests_are_recorded_with_their_answers(liveavatar: LiveAvatarServer) -> None:
    session_id, _ = new_liveavatar_session(liveavatar.base_url)
    httpx.post(
        f"{liveavatar.base_url}/v1/sessions/stop",
        headers=LIVEAVATAR_KEY,
        json={"session_id": session_id, "reason": "BORED"},
    )
    recorded = httpx.get(f"{liveavatar.base_url}/_fake/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in recorded] == [
        ("POST", "/v1/sessions/token", 200),
        ("POST", "/v1/sessions/start", 201),
        ("POST", "/v1/sessions/stop", 422),
    ]
    assert recorded[2]["json"] == {"session_id": session_id, "reason": "BORED"}
    assert recorded[0]["headers"]["x-api-key"] == "test-liveavatar-key"
    only_stops = httpx.get(f"{liveavatar.base_url}/_fake/requests", params={"path": "stop"}).json()
    assert len(only_stops) == 1


def test_sessions_can_be_killed_and_the_clock_advanced_over_http(
    liveavatar: LiveAvatarServer,
) -> None:
    base = liveavatar.base_url
    killed, _ = new_liveavatar_session(base)
    idle, _ = new_liveavatar_session(base)
    kept, kept_token = new_liveavatar_session(base, mode="FULL")
    httpx.post(f"{base}/_fake/config", json={"kill_sessions": [killed]})
    keep_alive = httpx.post(
        f"{base}/v1/sessions/keep-alive", headers=LIVEAVATAR_KEY, json={"session_id": killed}
    )
    assert keep_alive.status_code == 400 and "closed" in keep_alive.json()["message"]
    httpx.post(f"{base}/_fake/config", json={"advance_clock_s": 200})
    bearer = {"Authorization": f"Bearer {kept_token}"}
    assert httpx.post(f"{base}/v1/sessions/keep-alive", headers=bearer).status_code == 200
    httpx.post(f"{base}/_fake/config", json={"advance_clock_s": 101})
    open_ids = [s["session_id"] for s in httpx.get(f"{base}/_fake/sessions").json()]
    assert open_ids == [kept]
    every = httpx.get(f"{base}/_fake/sessions", params={"all": "1"}).json()
    assert {s["session_id"]: s["end_reason"] for s in every} == {
        killed: "SERVER_ERROR",
        idle: "IDLE_TIMEOUT",
        kept: None,
    }
    # FULL costs 2 credits a minute, LITE 1; six minutes started for the FULL one.
    assert {s["session_id"]: s["credits_consumed"] for s in every}[kept] == 2 * 6
    deleted = httpx.delete(f"{base}/v1/sessions", headers=bearer)
    assert deleted.status_code == 200 and httpx.get(f"{base}/_fake/sessions").json() == []
    httpx.post(f"{base}/_fake/reset")
    assert httpx.get(f"{base}/_fake/sessions", params={"all": "1"}).json() == []


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/sessions?type=active", {}, 401),
        ("/v1/sessions?type=active", {"X-API-KEY": "wrong"}, 401),
        ("/v1/sessions?type=active", {"Authorization": "Bearer test-liveavatar-key"}, 401),
        ("/v1/sessions?type=active", LIVEAVATAR_KEY, 200),
        ("/v1/sessions", LIVEAVATAR_KEY, 422),
        ("/v1/sessions?type=active&page_size=101", LIVEAVATAR_KEY, 422),
    ],
)
def test_liveavatar_auth_and_validation(
    liveavatar: LiveAvatarServer, path: str, headers: dict[str, str], status: int
) -> None:
    answer = httpx.get(f"{liveavatar.base_url}{path}", headers=headers)
    assert answer.status_code == status
    if status == 422:
        assert answer.json()["detail"][0]["loc"][0] == "query"
    elif status == 200:
        assert answer.json()["code"] == 1000


def test_liveavatar_full_data_channel_stand_in(liveavatar: LiveAvatarServer) -> None:
    session_id, _ = new_liveavatar_session(liveavatar.base_url, mode="FULL")
    url = f"{liveavatar.base_url}/_fake/datachannel/{session_id}"
    packet = {"event_type": "avatar.speak_text", "event_id": "e1", "text": "Hello."}
    events = httpx.post(url, json=packet).json()["events"]
    assert [e["event_type"] for e in events] == ["avatar.speak_started", "avatar.speak_ended"]
    assert httpx.post(url, json={"event_type": "avatar.dance", "event_id": "e2"}).status_code == 400
    # Without a context the FULL avatar stays silent, as LiveAvatar's does.
    silent_id, _ = new_liveavatar_session(liveavatar.base_url, mode="FULL", context_id=None)
    silent = httpx.post(f"{liveavatar.base_url}/_fake/datachannel/{silent_id}", json=packet)
    assert silent.json() == {"accepted": True, "events": []}
    lite_id, _ = new_liveavatar_session(liveavatar.base_url)
    lite = httpx.post(f"{liveavatar.base_url}/_fake/datachannel/{lite_id}", json=packet)
    assert lite.status_code == 409


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 1102),
        ({"x-api-key": "wrong"}, 1101),
        ({"x-api-key": "test-akool-key"}, 1000),
        ({"x-api-key": "test-akool-key", "Authorization": "Bearer stale"}, 1101),
    ],
)
def test_akool_auth_headers_and_authorization_wins(
    akool: AkoolServer, headers: dict[str, str], code: int
) -> None:
    answer = httpx.get(f"{akool.base_url}/api/open/v4/liveAvatar/session/list", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (200, code)


def test_akool_close_accepts_id_or_session_id(akool: AkoolServer) -> None:
    base = f"{akool.base_url}/api/open/v4/liveAvatar/session"
    ids = [
        httpx.post(
            f"{base}/create", headers=AKOOL_KEY, json={"avatar_id": "a", "duration": 60}
        ).json()["data"]["_id"]
        for _ in range(2)
    ]
    assert (
        httpx.post(f"{base}/close", headers=AKOOL_KEY, json={"id": ids[0]}).json()["code"] == 1000
    )
    assert (
        httpx.post(f"{base}/close", headers=AKOOL_KEY, json={"session_id": ids[1]}).json()["code"]
        == 1000
    )
    assert httpx.get(f"{akool.base_url}/_fake/sessions").json() == []


def test_akool_injected_failures_keep_its_envelope(akool: AkoolServer) -> None:
    httpx.post(f"{akool.base_url}/_fake/config", json={"fail_next": 1})
    answer = httpx.get(f"{akool.base_url}/api/open/v4/liveAvatar/session/list", headers=AKOOL_KEY)
    assert answer.status_code == 500 and answer.json()["code"] == 500 and "msg" in answer.json()


@pytest.mark.parametrize("name", ["liveavatar", "akool", "simli", "tavus"])
def test_each_fake_runs_standalone(name: str) -> None:
    port = free_port()
    config = json.dumps({"api_key": "standalone-key"})
    process = subprocess.Popen(
        [sys.executable, "-m", f"tests.fakes.{name}", "--port", str(port), "--config", config],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                knobs = httpx.get(f"{base_url}/_fake/config", timeout=1).json()
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the fake did not start"
                time.sleep(0.1)
        assert knobs["api_key"] == "standalone-key"
        assert httpx.get(f"{base_url}/_fake/sessions").json() == []
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_help_lists_the_knobs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.fakes.liveavatar", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "--port" in result.stdout and "idle_timeout_s" in result.stdout
    assert "credits" in result.stdout
