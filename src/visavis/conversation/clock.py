"""The conversation clock: milliseconds since the conversation became ready on this server."""

from __future__ import annotations

import time
from collections.abc import Callable


class ConversationClock:
    """Monotonic milliseconds from an origin; ``origin_ms`` shifts it onto an earlier session."""

    def __init__(self, *, origin_ms: int = 0, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._start = now()
        self._origin_ms = origin_ms

    def ms(self) -> int:
        """Now, on the conversation clock."""
        return self._origin_ms + int((self._now() - self._start) * 1000)

    def seconds(self) -> float:
        return self._origin_ms / 1000 + (self._now() - self._start)
