"""Background tasks that somebody holds: started, awaited on close, and never failing unseen."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class TaskSet:
    """The tasks an object started in the background.

    A task that fails is logged with its traceback when it ends (never "exception was never
    retrieved"); ``wait`` lets them finish for a while, ``aclose`` cancels what is left.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coroutine: Coroutine[Any, Any, Any], *, name: str | None = None) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("%s: a background task failed", self.owner, exc_info=error)

    async def wait(self, timeout_s: float) -> None:
        """Let the running tasks finish, for up to ``timeout_s``."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def aclose(self, timeout_s: float = 0.0) -> None:
        """Wait up to ``timeout_s``, then cancel what is still running; idempotent."""
        await self.wait(timeout_s)
        left = set(self._tasks)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)
