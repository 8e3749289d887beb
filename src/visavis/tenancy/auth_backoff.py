"""Back-off for failed authentication, per client address: guessing keys gets slow.

Each failed attempt (a wrong, revoked or malformed API key or client token) counts against
the address it came from, in a fixed window. Once an address has ``max_failures`` in the
window, every attempt from it is refused with a retry time until the window ends — before its
credentials are even looked at, so a refused guess reveals nothing. The counts live in Redis
when configured (shared by every instance, behind the circuit breaker) and in this process
otherwise, or while Redis is skipped.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from visavis.errors import VisavisError
from visavis.tenancy.breaker import RedisBreaker, RedisUnavailable
from visavis.tenancy.ratelimit import redis_client


class TooManyFailedAttempts(VisavisError):
    """This address failed to authenticate too often; it may retry after ``retry_after_s``."""

    code = "too_many_failed_attempts"
    http_status = 429

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(
            "too many failed authentication attempts from this address: "
            f"retry after {self.retry_after_s} s with a valid key"
        )
        self.problem_headers = {"Retry-After": str(self.retry_after_s)}


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """At most ``max_failures`` failed attempts per address per ``window_s`` (0 = no limit)."""

    max_failures: int = 20
    window_s: float = 60.0


class FailureCounter(Protocol):
    """Failures per address in the current window."""

    async def blocked_for(self, address: str) -> float:
        """Seconds the address must still wait (0 when it may try)."""
        ...

    async def record(self, address: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryFailureCounter:
    """Counts in this process; the oldest addresses are forgotten past ``max_addresses``."""

    def __init__(
        self,
        policy: BackoffPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 100_000,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._max = max_addresses
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def _window(self, address: str) -> tuple[float, int]:
        start, count = self._windows.get(address, (self._clock(), 0))
        if self._clock() - start >= self.policy.window_s:
            return self._clock(), 0
        return start, count

    async def blocked_for(self, address: str) -> float:
        start, count = self._window(address)
        if count < self.policy.max_failures:
            return 0.0
        return start + self.policy.window_s - self._clock()

    async def record(self, address: str) -> None:
        start, count = self._window(address)
        self._windows[address] = (start, count + 1)
        self._windows.move_to_end(address)
        while len(self._windows) > self._max:
            self._windows.popitem(last=False)

    async def aclose(self) -> None:
        self._windows.clear()


class RedisFailureCounter:
    """Counts in Redis (``INCR`` with the window as expiry); in-process while it is skipped."""

    def __init__(
        self,
        client: Redis,
        policy: BackoffPolicy,
        *,
        breaker: RedisBreaker,
        prefix: str = "visavis:authfail:",
    ) -> None:
        self.policy = policy
        self._client = client
        self._breaker = breaker
        self._prefix = prefix
        self._fallback = MemoryFailureCounter(policy)
        self._closed = False

    async def blocked_for(self, address: str) -> float:
        key = self._prefix + address

        async def read() -> tuple[int, int]:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                count, ttl_ms = await pipe.execute()
            return int(count or 0), int(ttl_ms)

        try:
            count, ttl_ms = await self._breaker.call(read)
        except RedisUnavailable:
            return await self._fallback.blocked_for(address)
        if count < self.policy.max_failures:
            return 0.0
        return max(ttl_ms, 1000) / 1000

    async def record(self, address: str) -> None:
        key = self._prefix + address
        window_ms = int(self.policy.window_s * 1000)

        async def count() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.pexpire(key, window_ms, nx=True)
                await pipe.execute()

        try:
            await self._breaker.call(count)
        except RedisUnavailable:
            await self._fallback.record(address)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.aclose()
        await self._fallback.aclose()


class AuthBackoff:
    """Check an address before verifying its credentials; record each failure after."""

    def __init__(self, counter: FailureCounter, policy: BackoffPolicy) -> None:
        self.counter = counter
        self.policy = policy

    async def check(self, address: str) -> None:
        """Raise ``TooManyFailedAttempts`` while ``address`` is backing off."""
        if self.policy.max_failures <= 0:
            return
        wait = await self.counter.blocked_for(address)
        if wait > 0:
            raise TooManyFailedAttempts(wait)

    async def failed(self, address: str) -> None:
        """Count one failed attempt from ``address``."""
        if self.policy.max_failures > 0:
            await self.counter.record(address)

    async def aclose(self) -> None:
        await self.counter.aclose()


def build_auth_backoff(
    policy: BackoffPolicy,
    *,
    redis_url: str | None,
    timeout_s: float = 0.25,
    cooldown_s: float = 30.0,
    breaker: RedisBreaker | None = None,
) -> AuthBackoff:
    """Shared through Redis when ``redis_url`` is set, else in this process (``breaker`` may
    be shared with the other users of the same Redis)."""
    if redis_url:
        breaker = breaker or RedisBreaker(
            name="auth back-off", timeout_s=timeout_s, cooldown_s=cooldown_s
        )
        counter: FailureCounter = RedisFailureCounter(
            redis_client(redis_url, timeout_s=timeout_s), policy, breaker=breaker
        )
    else:
        counter = MemoryFailureCounter(policy)
    return AuthBackoff(counter, policy)
