"""Token-bucket rate limits (per tenant, per key): in-process, or in Redis across instances.

A request takes one token from each of its buckets, all or nothing. A bucket holds at most
``burst`` tokens and refills at ``rate_per_s``. With Redis, one Lua script reads, refills and
takes the tokens of every bucket atomically (on Redis' own clock), so the limits hold however
many instances share it. If Redis cannot be reached (or hangs), a circuit breaker keeps the
limits in-process for a cool-down (logged once), rather than failing or slowing every request.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from visavis.tenancy.breaker import RedisBreaker, RedisUnavailable


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit: ``key`` names whose it is (``tenant:<id>``, ``key:<prefix>``)."""

    key: str
    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError("a bucket needs rate_per_s > 0 and burst >= 1")


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Allowed, or refused with the bucket that refused and how long until a token is back."""

    allowed: bool
    retry_after_s: float = 0.0
    bucket: str | None = None

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))


class RateLimiter(Protocol):
    """Takes one token from every bucket, or none."""

    async def acquire(self, buckets: Sequence[Bucket]) -> RateDecision: ...

    async def aclose(self) -> None: ...


class MemoryRateLimiter:
    """Buckets in this process (the embedded default); the oldest idle ones are forgotten."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_buckets = max_buckets
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def acquire(self, buckets: Sequence[Bucket]) -> RateDecision:
        now = self._clock()
        levels = []
        refusal = RateDecision(True)
        for bucket in buckets:
            tokens, stamp = self._state.get(bucket.key, (float(bucket.burst), now))
            tokens = min(bucket.burst, tokens + max(0.0, now - stamp) * bucket.rate_per_s)
            levels.append(tokens)
            if tokens < 1:
                wait = (1 - tokens) / bucket.rate_per_s
                if wait > refusal.retry_after_s:
                    refusal = RateDecision(False, wait, bucket.key)
        if not refusal.allowed:
            return refusal
        for bucket, tokens in zip(buckets, levels, strict=True):
            self._state[bucket.key] = (tokens - 1, now)
            self._state.move_to_end(bucket.key)
        while len(self._state) > self._max_buckets:
            self._state.popitem(last=False)
        return RateDecision(True)

    async def aclose(self) -> None:
        self._state.clear()


# KEYS: the buckets; ARGV: rate, burst for each. Returns {allowed, wait seconds, refused index}.
_TAKE_TOKENS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local levels = {}
local wait, refused = 0, 0
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens, stamp = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or stamp == nil then tokens, stamp = burst, now end
  tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
  levels[i] = tokens
  if tokens < 1 and (1 - tokens) / rate > wait then
    wait, refused = (1 - tokens) / rate, i
  end
end
if refused > 0 then return {0, tostring(wait), refused} end
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 'tokens', tostring(levels[i] - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate * 1000) + 1000)
end
return {1, '0', 0}
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every instance; in-process while Redis is unreachable."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "visavis:ratelimit:",
        fallback: MemoryRateLimiter | None = None,
        breaker: RedisBreaker | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_TAKE_TOKENS)
        self._fallback = fallback or MemoryRateLimiter()
        self.breaker = breaker or RedisBreaker(name="rate limits")
        self._closed = False

    @classmethod
    def from_url(
        cls, url: str, *, timeout_s: float = 0.25, cooldown_s: float = 30.0, **kwargs: Any
    ) -> RedisRateLimiter:
        """A limiter on the Redis at ``url``; each call waits at most ``timeout_s``."""
        client = redis_client(url, timeout_s=timeout_s)
        breaker = RedisBreaker(name="rate limits", timeout_s=timeout_s, cooldown_s=cooldown_s)
        return cls(client, breaker=breaker, **kwargs)

    def _keys(self, buckets: Sequence[Bucket]) -> list[str]:
        # One hash tag for all buckets of a request, so a Redis Cluster keeps them on one slot.
        group = buckets[0].key
        return [f"{self._prefix}{{{group}}}:{bucket.key}" for bucket in buckets]

    async def acquire(self, buckets: Sequence[Bucket]) -> RateDecision:
        if not buckets:
            return RateDecision(True)
        args: list[float | int] = []
        for bucket in buckets:
            args += [bucket.rate_per_s, bucket.burst]
        keys = self._keys(buckets)
        try:
            allowed, wait, refused = await self.breaker.call(
                lambda: self._script(keys=keys, args=args)
            )
        except RedisUnavailable:
            return await self._fallback.acquire(buckets)
        if int(allowed) == 1:
            return RateDecision(True)
        return RateDecision(False, float(wait), buckets[int(refused) - 1].key)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.aclose()
        await self._fallback.aclose()


def redis_client(url: str, *, timeout_s: float) -> Redis:
    """A Redis client whose connects and commands give up after ``timeout_s``."""
    return Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry_on_timeout=False
    )


def build_rate_limiter(
    redis_url: str | None,
    *,
    timeout_s: float = 0.25,
    cooldown_s: float = 30.0,
    breaker: RedisBreaker | None = None,
) -> RateLimiter:
    """Redis-backed when ``redis_url`` is set, else in-process; ``breaker`` may be shared with
    the other users of the same Redis, so an outage costs one timeout, not one per user."""
    if redis_url:
        breaker = breaker or RedisBreaker(
            name="rate limits", timeout_s=timeout_s, cooldown_s=cooldown_s
        )
        return RedisRateLimiter(redis_client(redis_url, timeout_s=timeout_s), breaker=breaker)
    return MemoryRateLimiter()
