"""Failed authentication backs off per client address, in-process or through Redis."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.api.test_errors_and_auth import assert_problem
from tests.conftest import TEST_SECRET, TenantFactory
from visavis.app import create_app
from visavis.config import Settings

REDIS_URL = os.environ.get("VISAVIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Every test on the shared Redis runs in one test worker, one at a time.
pytestmark = pytest.mark.xdist_group("redis")
BAD_KEY = {"Authorization": "Bearer vv_" + "x" * 40}

ClientAt = Callable[[FastAPI, str], httpx.AsyncClient]


def client_at(application: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://visavis.test")


def random_address() -> str:
    # Addresses of this test alone: the Redis counters are shared with any other run.
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        auth_failures_per_window=5,
        auth_failure_window_s=60,
    )


async def test_bad_keys_from_one_address_meet_429_then_even_a_good_key_waits(
    app: FastAPI, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    attacker, neighbour = random_address(), random_address()
    async with client_at(app, attacker) as http, client_at(app, neighbour) as other:
        statuses = [
            (await http.get("/v1/conversations", headers=BAD_KEY)).status_code for _ in range(5)
        ]
        assert statuses == [401] * 5
        refused = await http.get("/v1/conversations", headers=BAD_KEY)
        body = assert_problem(refused, 429)
        assert body["code"] == "too_many_failed_attempts"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Refused before the key is looked at: a right guess now tells nothing either.
        assert (await http.get("/v1/conversations", headers=acme.headers)).status_code == 429
        # Other addresses are not affected.
        assert (await other.get("/v1/conversations", headers=acme.headers)).status_code == 200
        assert (await other.get("/v1/conversations", headers=BAD_KEY)).status_code == 401


async def test_good_keys_never_count_against_an_address(
    app: FastAPI, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    async with client_at(app, random_address()) as http:
        for _ in range(12):
            assert (await http.get("/v1/conversations", headers=acme.headers)).status_code == 200


async def test_the_admin_key_backs_off_too(database_url: str) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        admin_api_key="a" * 40,
        auth_failures_per_window=3,
    )
    application = create_app(settings)
    wrong = {"Authorization": "Bearer " + "b" * 40}
    async with (
        application.router.lifespan_context(application),
        client_at(application, random_address()) as http,
    ):
        statuses = [
            (await http.get("/v1/admin/flags", headers=wrong)).status_code for _ in range(4)
        ]
    assert statuses == [401, 401, 401, 429]


@pytest.fixture
async def redis_available() -> None:
    client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis is unreachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()


AppFactory = Callable[[], Awaitable[FastAPI]]


@pytest.fixture
async def shared_instances(
    settings: Settings, redis_available: None
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "redis_timeout_s": 2.0})
    one, two = create_app(shared), create_app(shared)
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        yield one, two


async def test_failures_on_one_instance_back_off_on_the_other_through_redis(
    shared_instances: tuple[FastAPI, FastAPI],
) -> None:
    one, two = shared_instances
    address = random_address()
    async with client_at(one, address) as first, client_at(two, address) as second:
        for _ in range(2):
            assert (await first.get("/v1/conversations", headers=BAD_KEY)).status_code == 401
            assert (await second.get("/v1/conversations", headers=BAD_KEY)).status_code == 401
        assert (await first.get("/v1/conversations", headers=BAD_KEY)).status_code == 401
        # Five failures in all were counted across both instances: the next is refused.
        refused = await second.get("/v1/conversations", headers=BAD_KEY)
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
