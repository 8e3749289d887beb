"""Pacing toward a destination with a byte budget, and completion detection of a reply.

``BytePacer`` is a token bucket that guarantees never more than ``bytes_per_window``
bytes in any sliding window of ``window_s`` (1 s): over any span of ``w`` seconds a
bucket lets through at most ``burst + rate * w`` bytes, so with
``rate = (bytes_per_window - burst) / window_s`` every window of ``window_s`` holds at
most ``bytes_per_window``. ``watch_reply`` turns an agent's delta stream into sentences,
flushing the pending fragment when the stream pauses, and reports the end of the turn.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from visavis.conversation.segmenter import SentenceSegmenter
from visavis.errors import VisavisError

_TOLERANCE_BYTES = 1e-6


class MessageTooLarge(VisavisError):
    """A message is bigger than the destination accepts in one message."""

    code = "message_too_large"


class Clock(Protocol):
    """Time as the pacer sees it: injectable so tests control it."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock for tests: time moves only through ``advance`` (or by itself if ``auto_advance``).

    With ``auto_advance`` every ``sleep`` jumps the time forward at once, which suits a
    single sleeper; otherwise sleepers wake when ``advance`` passes their deadline.
    """

    def __init__(self, start: float = 0.0, *, auto_advance: bool = False) -> None:
        self._now = start
        self._auto_advance = auto_advance
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if self._auto_advance:
            self._now += max(0.0, seconds)
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._order), future))
        await future

    async def advance(self, seconds: float) -> None:
        """Let ready tasks run, then move time forward, waking sleepers in deadline order."""
        target = self._now + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            await _settle()
        self._now = target
        await _settle()


async def _settle(rounds: int = 20) -> None:
    """Give other tasks a few loop iterations to reach their next wait."""
    for _ in range(rounds):
        await asyncio.sleep(0)


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


@dataclass(frozen=True, slots=True)
class DeltaReceived:
    """A delta from the agent, as it arrived."""

    text: str


@dataclass(frozen=True, slots=True)
class SentenceReady:
    """A sentence to speak: at a boundary, after a pause in the stream, or at the end."""

    text: str
    reason: Literal["boundary", "pause", "end"]


@dataclass(frozen=True, slots=True)
class TurnComplete:
    """The agent finished its reply (its stream ended)."""


ReplyEvent = DeltaReceived | SentenceReady | TurnComplete


async def watch_reply(
    deltas: AsyncIterator[str],
    segmenter: SentenceSegmenter,
    *,
    pause_s: float = 0.5,
    clock: Clock | None = None,
) -> AsyncGenerator[ReplyEvent, None]:
    """Follow an agent's reply: every delta, every sentence, then ``TurnComplete``.

    When no delta comes for ``pause_s``, the pending fragment is released as a sentence
    so it can be spoken; the stream may continue afterwards. Agent errors propagate
    unchanged (the pending text stays in ``segmenter``). Closing or cancelling this
    generator cancels the pending read and closes ``deltas``.
    """
    clock = clock if clock is not None else MonotonicClock()
    iterator = aiter(deltas)
    reading: asyncio.Task[str] | None = None
    try:
        while True:
            reading = asyncio.ensure_future(anext(iterator))
            if segmenter.pending.strip() and not await _finishes_within(reading, pause_s, clock):
                for text in segmenter.flush():
                    yield SentenceReady(text, "pause")
            try:
                delta = await reading
            except StopAsyncIteration:
                reading = None
                break
            reading = None
            yield DeltaReceived(delta)
            for text in segmenter.push(delta):
                yield SentenceReady(text, "boundary")
        for text in segmenter.flush():
            yield SentenceReady(text, "end")
        yield TurnComplete()
    finally:
        if reading is not None and not reading.done():
            reading.cancel()
            await asyncio.wait({reading})  # never re-raises: our own cancellation survives
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()


async def _finishes_within(task: asyncio.Task[str], seconds: float, clock: Clock) -> bool:
    """True if ``task`` is done before ``seconds`` pass on ``clock`` (the task keeps running)."""
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        await asyncio.wait({timer})  # never re-raises: our own cancellation survives
    return task.done()
