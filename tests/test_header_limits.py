"""Oversized and over-numerous request headers are refused by a real ``visavis serve``."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.server_process import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("header-limits")
    running = ServerProcess(
        cwd=directory,
        env={"VISAVIS_MAX_HEADER_BYTES": "16384", "VISAVIS_MAX_HEADERS": "50"},
    ).start()
    yield running
    running.stop()


def exchange(port: int, head: bytes) -> bytes:
    """Send a request head; what the server answered before closing (b'' if nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        try:
            sock.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while we were still sending: what it said is read below
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and b"content-length: 0" not in answer.lower():
                    break
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def request(extra_headers: list[tuple[str, str]]) -> bytes:
    lines = ["GET /healthz HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in extra_headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def status_of(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer[9:12])


def test_an_ordinary_request_passes(server: ServerProcess) -> None:
    assert status_of(exchange(server.port, request([("X-Trace", "abc")]))) == 200


def test_an_8_mb_header_is_refused(server: ServerProcess) -> None:
    answer = exchange(server.port, request([("X-Big", "a" * 8 * 1024 * 1024)]))
    assert status_of(answer) in (None, 400, 431), answer[:200]


def test_twenty_thousand_headers_are_refused(server: ServerProcess) -> None:
    answer = exchange(server.port, request([(f"X-H{i}", "v") for i in range(20_000)]))
    assert status_of(answer) in (None, 400, 431), answer[:200]


def test_more_headers_than_the_setting_allows_get_431(server: ServerProcess) -> None:
    answer = exchange(server.port, request([(f"X-H{i}", "v") for i in range(60)]))
    assert status_of(answer) == 431, answer[:300]
    assert b"application/problem+json" in answer


def test_a_head_just_over_the_byte_setting_is_refused_and_under_it_passes(
    server: ServerProcess,
) -> None:
    assert status_of(exchange(server.port, request([("X-Pad", "p" * 12_000)]))) == 200
    refused = exchange(server.port, request([("X-Pad", "p" * 20_000)]))
    assert status_of(refused) in (None, 400, 431), refused[:200]


def test_the_server_still_serves_after_the_refusals(server: ServerProcess) -> None:
    assert status_of(exchange(server.port, request([]))) == 200


def test_a_websocket_handshake_with_too_many_headers_is_refused(server: ServerProcess) -> None:
    upgrade = [
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    head = request(upgrade + [(f"X-H{i}", "v") for i in range(60)])
    head = head.replace(b"GET /healthz", b"GET /v1/conversations/x/ws").replace(
        b"Connection: close", b"Connection: Upgrade"
    )
    answer = exchange(server.port, head)
    assert status_of(answer) == 403, answer[:300]
    accepted = exchange(
        server.port,
        request(upgrade)
        .replace(b"GET /healthz", b"GET /v1/conversations/x/ws")
        .replace(b"Connection: close", b"Connection: Upgrade"),
    )
    assert status_of(accepted) == 101, accepted[:300]
