"""Clocks for tests: time that moves only when the test says (or when every task waits)."""

from __future__ import annotations

import asyncio
import heapq
import itertools


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
