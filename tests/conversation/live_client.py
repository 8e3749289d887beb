"""A test client of the conversation WebSocket that records everything it receives."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from visavis.conversation.protocol import AudioFrame


@dataclass
class Received:
    at: float
    message: dict[str, Any] | None = None
    frame: AudioFrame | None = None


_connected: list[LiveClient] = []


async def close_connected_clients() -> None:
    """Close the clients a test left connected (it failed before closing them): their sockets
    would otherwise surface as a ``ResourceWarning`` in whichever test runs next."""
    while _connected:
        await _connected.pop().close()


@pytest.fixture
async def live_clients_closed() -> AsyncIterator[None]:
    """For tests against server processes: the clients they leave connected are closed."""
    yield
    await close_connected_clients()


@dataclass
class LiveClient:
    """Connects, says hello, and reads in the background; reports playback if asked."""

    base_url: str
    conversation_id: str
    token: str
    #: "instant": claims each utterance played as soon as its last frame arrives;
    #: "none": never reports (the server follows its own schedule).
    playback: str = "instant"
    #: Called with each ``provider_message``'s data, as the browser relays it.
    on_provider_message: Callable[[str], Awaitable[None]] | None = None
    received: list[Received] = field(default_factory=list)
    ws: ClientConnection | None = None
    close_code: int | None = None
    _reader: asyncio.Task[None] | None = None
    _new: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self, *, hello: dict[str, Any] | None = None, sock: Any = None) -> None:
        url = (
            self.base_url.replace("http://", "ws://")
            + f"/v1/conversations/{self.conversation_id}/ws"
        )
        self.ws = await websockets.connect(url, sock=sock, max_size=None)
        _connected.append(self)
        message = {"type": "hello", "token": self.token, "protocol": 1} | (hello or {})
        await self.send(message)
        self._reader = asyncio.create_task(self._read())

    async def send(self, message: dict[str, Any]) -> float:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))
        return time.monotonic()

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                now = time.monotonic()
                if isinstance(raw, bytes):
                    self.received.append(Received(now, frame=AudioFrame.decode(raw)))
                else:
                    message = json.loads(raw)
                    self.received.append(Received(now, message=message))
                    if message["type"] == "provider_message" and self.on_provider_message:
                        await self.on_provider_message(message["data"])
                    if self.playback == "instant" and message["type"] == "utterance_end":
                        await self.send(
                            {
                                "type": "playback",
                                "utterance_id": message["utterance_id"],
                                "position_ms": message["duration_ms"],
                                "ended": True,
                            }
                        )
                self._new.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self._new.set()

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            r.message
            for r in self.received
            if r.message and (kind is None or r.message["type"] == kind)
        ]

    def frames(self) -> list[Received]:
        return [r for r in self.received if r.frame is not None]

    async def wait_for(
        self, kind: str, *, timeout: float = 30.0, after: int = 0, **fields: Any
    ) -> dict[str, Any]:
        """The first message of ``kind`` (matching ``fields``) at index ≥ ``after``."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.received[after:]:
                m = record.message
                if m and m["type"] == kind and all(m.get(k) == v for k, v in fields.items()):
                    return m
            if self._reader is not None and self._reader.done():
                raise AssertionError(
                    f"connection closed ({self.close_code}) before {kind} {fields}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [r.message["type"] for r in self.received if r.message]
                raise AssertionError(f"no {kind} {fields} within {timeout} s; saw {seen[-20:]}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_line(
        self, role: str, *, after: int = 0, timeout: float = 30.0
    ) -> dict[str, Any]:
        """The first stored transcript entry of ``role`` at index ≥ ``after`` (it may come
        after the ``turn_end`` of its turn: a line is sent once it is stored)."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.received[after:]:
                m = record.message
                if m and m["type"] == "transcript" and m["entry"]["role"] == role:
                    return dict(m["entry"])
            await self.wait_for(
                "transcript",
                after=len(self.received),
                timeout=max(0.0, deadline - time.monotonic()),
            )

    async def wait_count(self, kind: str, count: int, *, timeout: float = 30.0) -> None:
        """Until ``count`` messages of ``kind`` have arrived (transcript lines come once
        stored, so not in step with the turn's other messages)."""
        deadline = time.monotonic() + timeout
        while len(self.messages(kind)) < count:
            if self._reader is not None and self._reader.done():
                raise AssertionError(f"connection closed ({self.close_code}) before {count} {kind}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{len(self.messages(kind))} {kind} within {timeout} s")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_frame(self, *, after: int = 0, timeout: float = 30.0) -> Received:
        """The first audio frame at index ≥ ``after``."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.received[after:]:
                if record.frame is not None:
                    return record
            if time.monotonic() > deadline:
                raise AssertionError(f"no audio frame within {timeout} s")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                pass

    async def wait_closed(self, timeout: float = 30.0) -> int | None:
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        _connected[:] = [client for client in _connected if client is not self]
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait({self._reader}, timeout=5)


async def start_conversation(
    base_url: str, api_key: str, body: dict[str, Any] | None = None
) -> tuple[str, str]:
    """Create a conversation through REST and mint its client token."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        created = await http.post("/v1/conversations", json=body or {}, headers=headers)
        assert created.status_code == 201, created.text
        conversation_id = created.json()["id"]
        token = await http.post(
            f"/v1/conversations/{conversation_id}/client-token", headers=headers
        )
        return conversation_id, token.json()["token"]


#: A short interview (two questions) for tests that run whole conversations.
SHORT_PLAN: dict[str, Any] = {
    "title": "Barista screening",
    "role": "Barista",
    "interviewer_name": "Sam",
    "greeting": "Hi, I'm Sam from the café. Thanks for your time.",
    "questions": [
        {"text": "What do you enjoy about making coffee?", "keywords": ["espresso", "milk"]},
        {"text": "How do you handle a long queue at rush hour?"},
    ],
    "closing": "That's all, thank you very much.",
    "min_answer_words": 4,
}


async def store_plan(
    base_url: str, api_key: str, name: str = "short", plan: dict[str, Any] | None = None
) -> str:
    """Store an interview plan for the tenant; returns its name."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        stored = await http.put(
            f"/v1/tenant/interview-plans/{name}",
            json=plan or SHORT_PLAN,
            headers={"Authorization": f"Bearer {api_key}"},
        )
        assert stored.status_code in (200, 201), stored.text
    return name


def small_receive_buffer_socket(host: str, port: int) -> socket.socket:
    """A connected TCP socket with a tiny receive window: a client that reads slowly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.setblocking(False)
    return sock
