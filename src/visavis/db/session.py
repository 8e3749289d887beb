"""Database sessions whose statements finish even when the task that runs them is cancelled.

Conversations, watchers and pollers are cancelled as a normal part of their life (a client
leaves, the server shuts down). A cancel that lands while a statement or a commit is on the
wire leaves the connection mid-protocol: on SQLite the pool's reset then fails ("Exception
during reset or similar"), on PostgreSQL the connection is dropped and its reader's failure is
never retrieved. Here each database call runs to its end in a task of its own; the cancel is
delivered to the caller as soon as the call is over, so the connection goes back to the pool
clean and a commit is either made or not, never half-made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def run_to_completion(work: Coroutine[Any, Any, T]) -> T:
    """``work``'s result, waiting for its end even if the caller is cancelled meanwhile.

    A cancel received while waiting is raised once ``work`` is over (chained to ``work``'s
    own error, if it failed), so the caller stops exactly as it would have, only later.
    """
    task = asyncio.create_task(work)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError as error:
            if task.done():
                raise
            cancelled = error
            continue
        except BaseException as error:
            if cancelled is not None:
                raise cancelled from error
            raise
        break
    if cancelled is not None:
        raise cancelled
    return result


class CancelSafeSession(AsyncSession):
    """An ``AsyncSession`` whose calls that talk to the database are not cut off by a cancel."""

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().execute(*args, **kwargs))

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().scalar(*args, **kwargs))

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().scalars(*args, **kwargs))

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().get(*args, **kwargs))

    async def get_one(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().get_one(*args, **kwargs))

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        await run_to_completion(super().refresh(*args, **kwargs))

    async def merge(self, *args: Any, **kwargs: Any) -> Any:
        return await run_to_completion(super().merge(*args, **kwargs))

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        await run_to_completion(super().delete(*args, **kwargs))

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        await run_to_completion(super().flush(*args, **kwargs))

    async def commit(self) -> None:
        await run_to_completion(super().commit())

    async def rollback(self) -> None:
        await run_to_completion(super().rollback())
