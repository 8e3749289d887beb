"""Writes what a live conversation produces, in order, off the hot path.

State events, transcript entries and turn metrics are queued and written by one task per
conversation, so a database round trip never delays the first audio of a turn.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.db.tenant_scope import scope_to_tenant

logger = logging.getLogger(__name__)

Write = Callable[[AsyncSession], Awaitable[None]]


class ConversationRecorder:
    """An ordered queue of database writes, each in its own transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        conversation_id: uuid.UUID,
        tenant_id: uuid.UUID,
        switch_role: bool,
    ) -> None:
        self.sessions = sessions
        self.conversation_id = conversation_id
        self.tenant_id = tenant_id
        self.switch_role = switch_role
        self._queue: asyncio.Queue[Write | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"recorder-{self.conversation_id}")

    def write(self, write: Write) -> None:
        """Queue ``write``; it runs after every write queued before it."""
        self._queue.put_nowait(write)

    async def _run(self) -> None:
        while True:
            write = await self._queue.get()
            if write is None:
                return
            try:
                async with self.sessions() as session:
                    # Row-level security as a second line: this transaction sees one tenant.
                    await scope_to_tenant(session, self.tenant_id, switch_role=self.switch_role)
                    await write(session)
                    await session.commit()
            except Exception:  # a failed write must not stop the conversation; it is logged
                self.failures += 1
                logger.exception("could not record to conversation %s", self.conversation_id)

    async def aclose(self, *, timeout_s: float = 10.0) -> None:
        """Finish the queued writes (up to ``timeout_s``), then stop; idempotent."""
        if self._task is None:
            return
        task, self._task = self._task, None
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(task, timeout_s)
        except TimeoutError:
            logger.error(
                "gave up recording conversation %s after %s s", self.conversation_id, timeout_s
            )
