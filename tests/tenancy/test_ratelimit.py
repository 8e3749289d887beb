"""Token buckets: burst then steady rate, all or nothing, shared through Redis across instances."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.conftest import TEST_SECRET, TenantFactory
from tests.fakes.loopback import free_port
from visavis.app import create_app
from visavis.config import Settings
from visavis.tenancy.ratelimit import Bucket, MemoryRateLimiter, RedisRateLimiter

REDIS_URL = os.environ.get("VISAVIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Every test on the shared Redis runs in one test worker, one at a time.
pytestmark = pytest.mark.xdist_group("redis")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_memory_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    bucket = [Bucket("tenant:a", rate_per_s=2, burst=3)]
    assert [(await limiter.acquire(bucket)).allowed for _ in range(4)] == [True, True, True, False]
    refused = await limiter.acquire(bucket)
    assert refused.bucket == "tenant:a"
    assert refused.retry_after_s == pytest.approx(0.5)
    assert refused.retry_after_header == "1"
    clock.now += 0.5
    assert (await limiter.acquire(bucket)).allowed
    assert not (await limiter.acquire(bucket)).allowed
    clock.now += 60  # refills to the burst, never beyond
    assert [(await limiter.acquire(bucket)).allowed for _ in range(4)] == [True, True, True, False]


async def test_a_refusal_takes_no_token_from_the_other_buckets() -> None:
    limiter = MemoryRateLimiter(clock=Clock())
    tenant = Bucket("tenant:a", rate_per_s=1, burst=2)
    key_one, key_two = Bucket("key:1", 1, 1), Bucket("key:2", 1, 5)
    assert (await limiter.acquire([tenant, key_one])).allowed
    refused = await limiter.acquire([tenant, key_one])
    assert refused.bucket == "key:1"
    # The tenant still has its second token, for another key.
    assert (await limiter.acquire([tenant, key_two])).allowed
    assert (await limiter.acquire([tenant, key_two])).bucket == "tenant:a"


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        message = f"Redis is unreachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the Redis tests must run)")
        pytest.skip(message)
    finally:
        await client.aclose()
    yield REDIS_URL


async def test_redis_buckets_are_shared_by_every_instance(redis_url: str) -> None:
    prefix = f"visavis-test:{secrets.token_hex(4)}:"
    one = RedisRateLimiter.from_url(redis_url, prefix=prefix)
    two = RedisRateLimiter.from_url(redis_url, prefix=prefix)
    try:
        bucket = [Bucket("tenant:a", rate_per_s=0.5, burst=4), Bucket("key:k", 100, 100)]
        results = await asyncio.gather(*(limiter.acquire(bucket) for limiter in (one, two) * 5))
        assert sum(r.allowed for r in results) == 4
        refused = [r for r in results if not r.allowed]
        assert {r.bucket for r in refused} == {"tenant:a"}
        assert all(0 < r.retry_after_s <= 2 for r in refused)
    finally:
        await one.aclose()
        await two.aclose()
        await one.aclose()  # idempotent


async def test_unreachable_redis_falls_back_to_limits_in_this_instance(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisRateLimiter.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    try:
        bucket = [Bucket("tenant:a", rate_per_s=1, burst=2)]
        with caplog.at_level(logging.WARNING, logger="visavis.tenancy.breaker"):
            results = [(await limiter.acquire(bucket)).allowed for _ in range(3)]
        assert results == [True, True, False]
        warnings = [r for r in caplog.records if "using in-process state" in r.getMessage()]
        assert len(warnings) == 1  # once per outage, not once per request
    finally:
        await limiter.aclose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        rate_limit_key_per_s=1,
        rate_limit_key_burst=3,
    )


async def test_api_answers_429_with_retry_after_per_key(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    statuses = [
        (await client.get("/v1/conversations", headers=acme.headers)).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    refused = await client.get("/v1/conversations", headers=acme.headers)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["limit"] == "key"
    # Another tenant has buckets of its own.
    other = await make_tenant("other")
    assert (await client.get("/v1/conversations", headers=other.headers)).status_code == 200


async def test_with_redis_the_limit_holds_across_instances(
    settings: Settings, redis_url: str, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    # A token a minute: however slowly a busy machine serves the six requests, none refills.
    slow_refill = {"redis_url": redis_url, "rate_limit_key_per_s": 1 / 60}
    shared = settings.model_copy(update=slow_refill)
    instances = [create_app(shared), create_app(shared)]
    async with AsyncExitStack() as stack:
        clients = []
        for n, instance in enumerate(instances):
            await stack.enter_async_context(instance.router.lifespan_context(instance))
            transport = httpx.ASGITransport(app=instance, client=("127.0.0.1", 50100 + n))
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url=f"http://i{n}.test")
                )
            )
        statuses = [
            (await clients[n % 2].get("/v1/conversations", headers=acme.headers)).status_code
            for n in range(6)
        ]
    assert sorted(statuses) == [200, 200, 200, 429, 429, 429]
