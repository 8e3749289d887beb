"""Time as pacing and reply watching see it: injectable, so tests can control it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic seconds that can also wait."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ConversationClock:
    """Milliseconds of one conversation, from an origin; ``origin_ms`` shifts it onto an
    earlier session of the same conversation. It reads the event loop's clock, so a test's
    virtual time moves it too.
    """

    def __init__(self, *, origin_ms: int = 0, now: Callable[[], float] | None = None) -> None:
        self._now = now if now is not None else asyncio.get_running_loop().time
        self._start = self._now()
        self._origin_ms = origin_ms

    def ms(self) -> int:
        """Now, on the conversation clock."""
        return self._origin_ms + int((self._now() - self._start) * 1000)

    def seconds(self) -> float:
        return self._origin_ms / 1000 + (self._now() - self._start)
