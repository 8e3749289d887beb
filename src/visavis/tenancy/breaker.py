"""A circuit breaker for Redis: a server that fails or hangs is skipped for a cool-down.

Without it, a Redis that accepts connections but never answers costs every request its full
timeout. Each call here has a short deadline; the first failure opens the breaker, and while
it is open calls fail at once (the caller falls back to in-process state) until the
cool-down ends and one call tries Redis again. Opening and closing are logged once each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from visavis.errors import VisavisError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RedisUnavailable(VisavisError):
    """Redis failed, timed out, or is being skipped during the breaker's cool-down."""

    code = "redis_unavailable"


class RedisBreaker:
    """Runs Redis calls under a deadline; skips Redis for ``cooldown_s`` after a failure."""

    def __init__(
        self,
        *,
        name: str,
        timeout_s: float = 0.25,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._open_until: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        """Whether Redis is being skipped right now."""
        return self._open_until is not None and self._clock() < self._open_until

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """``operation()``'s result, or ``RedisUnavailable`` (at once while open)."""
        if self._open_until is not None:
            if self._clock() < self._open_until or self._probing:
                raise RedisUnavailable(f"{self.name}: Redis skipped during its cool-down")
            self._probing = True  # one call tries Redis again; the others keep falling back
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await operation()
        except (RedisError, OSError, TimeoutError) as exc:
            self._trip(exc)
            raise RedisUnavailable(f"{self.name}: {type(exc).__name__}") from exc
        finally:
            self._probing = False
        if self._open_until is not None:
            logger.info("%s: Redis answers again; shared state is back", self.name)
            self._open_until = None
        return result

    def _trip(self, error: BaseException) -> None:
        if self._open_until is None:
            logger.warning(
                "%s: Redis unavailable (%s); using in-process state for %.0f s at a time "
                "until it answers",
                self.name,
                type(error).__name__,
                self.cooldown_s,
            )
        self._open_until = self._clock() + self.cooldown_s
