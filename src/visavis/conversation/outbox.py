"""The bounded queue of messages waiting to be written to one client.

Memory never grows without bound: when a client stops reading and the queue holds more than
its byte budget — or the connection stops taking what is written to it — the outbox is
closed as overflowed, ``put`` raises ``SlowClient`` and the connection is cut off.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from visavis.errors import VisavisError


class OutboxClosed(VisavisError):
    """The connection is gone; nothing more can be sent."""

    code = "outbox_closed"


class SlowClient(OutboxClosed):
    """The client is not reading: its send queue is full, so the connection is dropped."""

    code = "slow_client"


Outgoing = str | bytes


class Outbox:
    """A FIFO of text and binary frames bounded by total bytes."""

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: deque[Outgoing] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self._closed = False
        self._gone = asyncio.Event()
        self.overflowed = False

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def send_json(self, message: dict[str, Any]) -> None:
        self.put(json.dumps(message, separators=(",", ":"), ensure_ascii=False))

    def put(self, item: Outgoing) -> None:
        if self._closed:
            raise OutboxClosed("the connection is closed")
        size = len(item)
        if self._bytes + size > self.max_bytes:
            self.stalled()
            raise SlowClient(f"the client is not reading: more than {self.max_bytes} bytes queued")
        self._items.append(item)
        self._bytes += size
        self._ready.set()

    async def get(self) -> Outgoing:
        """The next item; raises ``OutboxClosed`` once closed and drained."""
        while not self._items:
            if self._closed:
                raise OutboxClosed("the connection is closed")
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        self._bytes -= len(item)
        return item

    def drop_audio(self) -> int:
        """Discard queued binary frames (an interruption); returns how many were dropped."""
        kept = [item for item in self._items if isinstance(item, str)]
        dropped = len(self._items) - len(kept)
        self._items = deque(kept)
        self._bytes = sum(len(item) for item in kept)
        return dropped

    def close(self) -> None:
        """No more puts; ``get`` drains what is queued, then raises. Idempotent."""
        self._closed = True
        self._ready.set()
        self._gone.set()

    def stalled(self) -> None:
        """The connection stopped taking frames: drop what is queued and close as overflowed."""
        self.overflowed = True
        self._items.clear()
        self._bytes = 0
        self.close()

    async def wait_closed(self) -> None:
        """Until the outbox is closed (the conversation ended, or the client is too slow)."""
        await self._gone.wait()

    @property
    def closed(self) -> bool:
        return self._closed
