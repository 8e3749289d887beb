"""The retry policy of provider calls.

Retries only what may succeed on another try (:class:`ProviderUnavailable`, which
includes timeouts, and :class:`ProviderRateLimited`, waiting its Retry-After); never
auth, quota, concurrency or request errors. Backoff 1 s, 2 s, 4 s by default, and an
optional overall deadline that also bounds each attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from visavis.avatars.errors import ProviderError, ProviderRateLimited, ProviderTimeout

T = TypeVar("T")

DEFAULT_BACKOFF_S = (1.0, 2.0, 4.0)

RetryHook = Callable[[int, ProviderError, float], None]


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 3,
    backoff: Sequence[float] = DEFAULT_BACKOFF_S,
    deadline: float | None = None,
    provider: str = "provider",
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_retry: RetryHook | None = None,
) -> T:
    """Await ``call()`` up to ``attempts`` times; return its result or raise the last error.

    ``backoff[i]`` is the wait after the i-th failure (the last value repeats). A 429's
    Retry-After replaces the backoff wait. ``deadline`` is an instant on ``clock``
    (``time.monotonic`` by default): no attempt runs past it, and no wait is started
    that would end after it. ``on_retry(attempt, error, wait_s)`` is told of each retry.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if not backoff:
        raise ValueError("backoff needs at least one wait")
    attempt = 0
    while True:
        attempt += 1
        try:
            return await _attempt(call, deadline=deadline, clock=clock, provider=provider)
        except ProviderError as error:
            if not error.retryable or attempt >= attempts:
                raise
            wait_s = backoff[min(attempt - 1, len(backoff) - 1)]
            if isinstance(error, ProviderRateLimited) and error.retry_after_s is not None:
                wait_s = error.retry_after_s
            if deadline is not None and clock() + wait_s >= deadline:
                raise
            if on_retry is not None:
                on_retry(attempt, error, wait_s)
            await sleep(wait_s)


async def _attempt(
    call: Callable[[], Awaitable[T]],
    *,
    deadline: float | None,
    clock: Callable[[], float],
    provider: str,
) -> T:
    if deadline is None:
        return await call()
    remaining = deadline - clock()
    if remaining <= 0:
        raise ProviderTimeout("the deadline passed before the call", provider=provider)
    scope = asyncio.timeout(remaining)
    try:
        async with scope:
            return await call()
    except TimeoutError as exc:
        if not scope.expired():
            raise
        raise ProviderTimeout(
            f"no answer before the deadline ({remaining:.2f} s left)", provider=provider
        ) from exc
