"""A bound on concurrent CPU-heavy speech work (synthesis, recognition), most urgent first.

Run without order, ten conversations decoding at once slow each other down evenly, and the one
whose listener is waiting for an answer now waits as long as the one that merely wants a
fresher partial. Here each job carries a deadline — when its result is needed — and the
earliest deadline gets the next free slot.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class DeadlineScheduler:
    """At most ``slots`` jobs at once; waiting jobs served earliest deadline first."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("the scheduler needs at least one slot")
        self.slots = slots
        self._free = slots
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        """How many jobs wait for a slot now."""
        return sum(1 for *_, future in self._waiting if not future.done())

    @property
    def busy(self) -> int:
        """How many slots are held now."""
        return self.slots - self._free

    @asynccontextmanager
    async def slot(self, deadline: float) -> AsyncIterator[None]:
        """Hold one slot; ``deadline`` is a ``loop.time()`` instant (smaller = sooner)."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (deadline, next(self._order), future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # granted just as we were cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1
