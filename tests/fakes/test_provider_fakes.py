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
from tests.fakes.heygen import HeyGenServer, serve_heygen
from tests.fakes.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
HEYGEN_KEY = {"x-api-key": "test-heygen-key"}
AKOOL_KEY = {"x-api-key": "test-akool-key"}


@pytest.fixture(scope="module")
def heygen() -> Iterator[HeyGenServer]:
    with serve_heygen() as server:
        yield server


@pytest.fixture(scope="module")
def akool() -> Iterator[AkoolServer]:
    with serve_akool() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(heygen: HeyGenServer, akool: AkoolServer) -> None:
    heygen.fake.reset()
    akool.fake.reset()


def new_heygen_session(base_url: str, **body: object) -> str:
    answer = httpx.post(
        f"{base_url}/v1/streaming.new", headers=HEYGEN_KEY, json={"avatar_id": "anna", **body}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["session_id"])


def test_knobs_are_set_over_http_and_bad_ones_change_nothing(heygen: HeyGenServer) -> None:
    url = f"{heygen.base_url}/_fake/config"
    knobs = httpx.post(url, json={"latency_s": 0.01, "fault_paths": ["task"]}).json()
    assert knobs["latency_s"] == 0.01 and knobs["fault_paths"] == ["task"]
    refused = httpx.post(url, json={"max_concurrent": 2, "no_such_knob": 1})
    assert refused.status_code == 400 and "no_such_knob" in refused.json()["error"]
    assert httpx.post(url, json={"max_concurrent": "many"}).status_code == 400
    assert httpx.get(url).json()["max_concurrent"] == 100
    assert httpx.post(url, content=b"[1]").status_code == 400


def test_requests_are_recorded_with_their_answers(heygen: HeyGenServer) -> None:
    session_id = new_heygen_session(heygen.base_url)
    httpx.post(
        f"{heygen.base_url}/v1/streaming.task",
        headers=HEYGEN_KEY,
        json={"session_id": session_id, "text": "x"},
    )
    recorded = httpx.get(f"{heygen.base_url}/_fake/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in recorded] == [
        ("POST", "/v1/streaming.new", 200),
        ("POST", "/v1/streaming.task", 400),
    ]
    assert recorded[1]["json"] == {"session_id": session_id, "text": "x"}
    assert recorded[0]["headers"]["x-api-key"] == "test-heygen-key"
    only_tasks = httpx.get(f"{heygen.base_url}/_fake/requests", params={"path": "task"}).json()
    assert len(only_tasks) == 1


def test_sessions_can_be_killed_and_the_clock_advanced_over_http(heygen: HeyGenServer) -> None:
    killed = new_heygen_session(heygen.base_url)
    idle = new_heygen_session(heygen.base_url, activity_idle_timeout=30)
    kept = new_heygen_session(heygen.base_url)
    httpx.post(f"{heygen.base_url}/_fake/config", json={"kill_sessions": [killed]})
    keep_alive = httpx.post(
        f"{heygen.base_url}/v1/streaming.keep_alive",
        headers=HEYGEN_KEY,
        json={"session_id": killed},
    )
    assert keep_alive.status_code == 400 and keep_alive.json()["code"] == 10005
    httpx.post(f"{heygen.base_url}/_fake/config", json={"advance_clock_s": 31})
    open_ids = [s["session_id"] for s in httpx.get(f"{heygen.base_url}/_fake/sessions").json()]
    assert open_ids == [kept]
    every = httpx.get(f"{heygen.base_url}/_fake/sessions", params={"all": "1"}).json()
    assert {s["session_id"]: s["closed_reason"] for s in every} == {
        killed: "killed",
        idle: "idle_timeout",
        kept: None,
    }
    httpx.post(f"{heygen.base_url}/_fake/reset")
    assert httpx.get(f"{heygen.base_url}/_fake/sessions", params={"all": "1"}).json() == []


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, 400112),
        ({"x-api-key": "wrong"}, 401, 40009),
        ({"Authorization": "Bearer wrong"}, 401, 40009),
        ({"Authorization": "Bearer test-heygen-key"}, 200, 100),
        ({"x-api-key": "test-heygen-key"}, 200, 100),
    ],
)
def test_heygen_auth_headers(
    heygen: HeyGenServer, headers: dict[str, str], status: int, code: int
) -> None:
    answer = httpx.get(f"{heygen.base_url}/v1/streaming.list", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (status, code)


def test_heygen_error_envelope_variant(heygen: HeyGenServer) -> None:
    httpx.post(f"{heygen.base_url}/_fake/config", json={"envelope": "error"})
    answer = httpx.post(f"{heygen.base_url}/v1/streaming.create_token", headers=HEYGEN_KEY).json()
    assert answer["error"] is None and answer["data"]["token"]


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


@pytest.mark.parametrize("name", ["heygen", "akool"])
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
        [sys.executable, "-m", "tests.fakes.heygen", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "--port" in result.stdout and "idle_timeout_s" in result.stdout
