"""A bound on concurrent CPU-heavy speech work (synthesis, recognition), most urgent first.

Run without order, ten conversations decoding at once slow each other down evenly, and the one
whose listener is waiting for an answer now waits as long as the one that merely wants a
fresher partial. Here each job carries a deadline — when its result is needed — and the
earliest deadline gets the next free slot.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class DeadlineScheduler:
    """At most ``slots`` jobs at once; waiting jobs served earliest deadline first.

    A job that can wait (a partial transcript) may ask for ``spare`` slots to stay free while
    it runs: a decode cannot be stopped once started, so without a spare slot an urgent job
    (the final of a turn) arriving meanwhile would wait for it to finish.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("the scheduler needs at least one slot")
        self.slots = slots
        self._free = slots
        self._waiting: list[tuple[float, int, int, asyncio.Future[None]]] = []
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
    async def slot(self, deadline: float, *, spare: int = 0) -> AsyncIterator[None]:
        """Hold one slot; ``deadline`` is a ``loop.time()`` instant (smaller = sooner);
        ``spare``: start only while that many other slots stay free (at most ``slots - 1``)."""
        spare = max(0, min(spare, self.slots - 1))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((deadline, next(self._order), spare, future))
        self._dispatch()
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
        self._free += 1
        self._dispatch()

    def _dispatch(self) -> None:
        """Grant free slots to the earliest waiting jobs that leave their spare slots free."""
        self._waiting = sorted(entry for entry in self._waiting if not entry[3].done())
        for entry in list(self._waiting):
            if self._free == 0:
                return
            _, _, spare, future = entry
            if self._free - 1 >= spare:
                self._waiting.remove(entry)
                self._free -= 1
                future.set_result(None)
