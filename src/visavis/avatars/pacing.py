"""Pacing messages toward a destination with a byte budget (e.g. Agora's data stream).

``BytePacer`` is a token bucket that guarantees never more than ``bytes_per_window``
bytes in any sliding window of ``window_s`` (1 s): over any span of ``w`` seconds a
bucket lets through at most ``burst + rate * w`` bytes, so with
``rate = (bytes_per_window - burst) / window_s`` every window of ``window_s`` holds at
most ``bytes_per_window``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from visavis.errors import VisavisError
from visavis.timing import Clock, MonotonicClock

_TOLERANCE_BYTES = 1e-6


class MessageTooLarge(VisavisError):
    """A message is bigger than the destination accepts in one message."""

    code = "message_too_large"


@dataclass(frozen=True, kw_only=True)
class ByteBudget:
    """A destination's declared limits, e.g. Agora's data stream: 6000 B/s, 1024 B/message."""

    bytes_per_window: int
    max_message_bytes: int
    window_s: float = 1.0
    #: Bytes that may leave at once after a pause; at least one full message.
    burst_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_message_bytes < 1 or self.window_s <= 0:
            raise ValueError("max_message_bytes must be positive and window_s above zero")
        if not self.max_message_bytes <= self.burst < self.bytes_per_window:
            raise ValueError(
                "need max_message_bytes <= burst_bytes < bytes_per_window "
                f"(got {self.max_message_bytes}, {self.burst}, {self.bytes_per_window})"
            )

    @property
    def burst(self) -> int:
        return self.burst_bytes if self.burst_bytes is not None else self.max_message_bytes

    @property
    def rate(self) -> float:
        """Refill in bytes per second, chosen so that no window exceeds the budget."""
        return (self.bytes_per_window - self.burst) / self.window_s


class BytePacer:
    """Waits before each message so the destination's byte budget is never exceeded."""

    def __init__(self, budget: ByteBudget, *, clock: Clock | None = None) -> None:
        self.budget = budget
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._tokens = float(budget.burst)
        self._updated = self._clock.now()
        self._lock = asyncio.Lock()

    async def acquire(self, size: int) -> None:
        """Return when ``size`` bytes may be sent now; raises ``MessageTooLarge``.

        Callers are served in arrival order; cancelling a waiting caller consumes nothing.
        """
        if size > self.budget.max_message_bytes:
            raise MessageTooLarge(
                f"a message of {size} bytes exceeds this destination's limit of "
                f"{self.budget.max_message_bytes} bytes; chunk it first"
            )
        if size <= 0:
            return
        async with self._lock:
            while True:
                self._refill()
                # The tolerance absorbs float rounding; sizes are whole bytes, so a
                # window can never hold a whole byte more than the budget because of it.
                if self._tokens >= size - _TOLERANCE_BYTES:
                    self._tokens -= size
                    return
                await self._clock.sleep((size - self._tokens) / self.budget.rate)

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.budget.burst), self._tokens + elapsed * self.budget.rate)
        self._updated = now
