"""A Redis that accepts connections and never answers: short deadlines, then a cool-down
during which limits are kept in-process without knocking again (logged once)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TEST_SECRET, TenantFactory
from tests.fakes.silent_server import SilentServer
from visavis.app import create_app
from visavis.config import Settings
from visavis.tenancy.breaker import RedisBreaker
from visavis.tenancy.ratelimit import Bucket, RedisRateLimiter, redis_client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_hung_redis_is_asked_once_per_cool_down_and_limits_still_hold(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    with SilentServer() as hung:
        breaker = RedisBreaker(name="rate limits", timeout_s=0.1, cooldown_s=30, clock=clock)
        limiter = RedisRateLimiter(redis_client(hung.url, timeout_s=0.1), breaker=breaker)
        bucket = [Bucket("tenant:a", rate_per_s=0.001, burst=40)]
        try:
            with caplog.at_level(logging.INFO, logger="visavis.tenancy.breaker"):
                results = [(await limiter.acquire(bucket)).allowed for _ in range(50)]
            # The in-process fallback enforced the bucket: 40 allowed, then refused.
            assert results == [True] * 40 + [False] * 10
            assert hung.connections == 1, "Redis was knocked on again during the cool-down"
            assert breaker.is_open
            opened = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
            assert len(opened) == 1
            # After the cool-down one request tries Redis again, and the breaker re-opens quietly.
            clock.now += 31
            await limiter.acquire(bucket)
            await limiter.acquire(bucket)
            assert hung.connections == 2
            opened = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
            assert len(opened) == 1
        finally:
            await limiter.aclose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        redis_url="redis://127.0.0.1:1/0",  # replaced by the hung server below
    )


@pytest.fixture
async def hung_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, SilentServer]]:
    with SilentServer() as hung:
        application = create_app(settings.model_copy(update={"redis_url": hung.url}))
        async with application.router.lifespan_context(application):
            yield application, hung


async def test_authenticated_requests_do_not_wait_on_a_hung_redis_each_time(
    hung_app: tuple[FastAPI, SilentServer],
    make_tenant: TenantFactory,
) -> None:
    application, hung = hung_app
    acme = await make_tenant("acme")
    transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://visavis.test") as http:
        statuses = [
            (await http.get("/v1/conversations", headers=acme.headers)).status_code
            for _ in range(20)
        ]
    assert statuses == [200] * 20
    # One knock from requests (the rate limits and the auth back-off share the breaker), one
    # from the owner-notice listener as the instance starts; none more in the cool-down.
    assert hung.connections == 2
