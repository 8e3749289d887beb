"""Fixtures shared by the whole suite: databases on both engines, settings, the app, tenants."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conversation.live_client import live_clients_closed
from tests.db_support import (
    PostgresTestDatabase,
    SqliteTemplate,
    postgres_admin_url,
    postgres_reachable,
)
from tests.live_server import TenantCredentials, live_server
from visavis.app import create_app
from visavis.config import Settings
from visavis.context import AppContext
from visavis.db.repositories.api_keys import ApiKeyRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.tenancy.keys import generate_key

TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-0123456789"


@pytest.fixture(autouse=True, scope="session")
def _clean_environment() -> Iterator[None]:
    """Tests see only the settings they set: no VISAVIS_* from the shell, no .env file."""
    saved = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("VISAVIS_") and k != "VISAVIS_TEST_POSTGRES_URL"
    }
    for key in saved:
        del os.environ[key]
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    template = SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))
    template.create()
    return template


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresTestDatabase]:
    url = postgres_admin_url()
    problem = asyncio.run(postgres_reachable(url))
    if problem is not None:
        message = f"PostgreSQL is unreachable at {url}: {problem}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the PostgreSQL half must run)")
        pytest.skip(message)
    database = PostgresTestDatabase(url)
    asyncio.run(database.create())
    yield database
    asyncio.run(database.drop())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: SqliteTemplate
) -> str:
    """A freshly migrated, empty database of this test's own, on each engine in turn."""
    if request.param == "sqlite":
        return sqlite_template.copy_to(tmp_path)
    database: PostgresTestDatabase = request.getfixturevalue("postgres_database")
    asyncio.run(database.empty())
    return database.url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        # Loading Whisper costs each test app a second of CPU: a test that needs it turns it on.
        stt_warm_up=False,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def ctx(app: FastAPI) -> AppContext:
    context: AppContext = app.state.ctx
    return context


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://visavis.test") as http:
        yield http


TenantFactory = Callable[[str], Awaitable[TenantCredentials]]


@pytest.fixture
def make_tenant(ctx: AppContext) -> TenantFactory:
    """Create a tenant with one API key, as ``visavis tenants create`` does."""

    async def _make(name: str) -> TenantCredentials:
        async with ctx.sessions() as session:
            tenant = await TenantRepository(session).create(name=name)
            key = generate_key()
            await ApiKeyRepository(session).add(tenant_id=tenant.id, key=key)
            await session.commit()
            return TenantCredentials(name=name, tenant_id=str(tenant.id), key=key.plaintext)

    return _make


__all__ = ["TenantCredentials", "live_clients_closed", "live_server"]
