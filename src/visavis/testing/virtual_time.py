"""Virtual time for asyncio: sleeps end at once when nothing else can run.

A conversation speaks for seconds; its tests should not. ``VirtualTimeLoop`` is an event loop
whose clock only moves when every task waits on a timer: then it jumps to the next deadline
instead of sleeping. Work in threads and on sockets (the database) still takes real time: the
loop waits briefly for it before jumping, and longer before a long jump.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: Real seconds the loop waits for threads and sockets before it lets virtual time jump.
_GRACE_S = 0.002
#: A jump longer than this is most likely to a timeout guarding real work (a database query's
#: 30 s), which a busy machine may take more than ``_GRACE_S`` to answer: before such a jump
#: the loop waits up to ``_LONG_GRACE_S`` (it goes on at once when the answer comes).
_LONG_JUMP_S = 1.0
_LONG_GRACE_S = 0.25


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0 or self.loop is None:
            return super().select(timeout)
        grace = _LONG_GRACE_S if timeout > _LONG_JUMP_S else _GRACE_S
        ready = super().select(min(timeout, grace))
        if not ready:
            self.loop.advance(timeout)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time (see the module docstring)."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self._now = 0.0

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move virtual time forward (the loop does so itself when all tasks sleep)."""
        self._now += max(0.0, seconds)


def run_virtual(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on a fresh ``VirtualTimeLoop``."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coroutine)
