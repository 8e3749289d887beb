"""200 concurrent avatar starts against a limit of 100: exactly 100 avatars, never one more.

In one process on SQLite and PostgreSQL, and with two server processes sharing PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET, TenantFactory
from tests.db_support import PostgresTestDatabase, postgres_admin_url
from tests.server_process import ServerProcess
from visavis.cli import app as cli
from visavis.config import Settings
from visavis.db.engine import create_engine

STARTS = 200
LIMIT = 100
AVATAR = {"avatar": {"provider": "local"}}


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Rate limits off: this test is about quotas, and sends 200 requests at once."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        rate_limit_tenant_per_s=0,
        rate_limit_key_per_s=0,
    )


def _tally(responses: list[httpx.Response]) -> Counter[Any]:
    assert {r.status_code for r in responses} == {201}, {r.status_code for r in responses}
    return Counter((r.json()["avatar"]["enabled"], r.json()["avatar"]["reason"]) for r in responses)


async def _count(database_url: str, sql: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


async def test_concurrent_starts_never_over_admit(
    client: httpx.AsyncClient, make_tenant: TenantFactory, database_url: str
) -> None:
    acme = await make_tenant("acme")
    limited = await client.put(
        "/v1/tenant/preferences",
        json={"monthly_avatar_session_limit": LIMIT},
        headers=acme.headers,
    )
    assert limited.status_code == 200

    responses = await asyncio.gather(
        *(
            client.post("/v1/conversations", json=AVATAR, headers=acme.headers)
            for _ in range(STARTS)
        )
    )

    assert _tally(responses) == {(True, None): LIMIT, (False, "quota_exceeded"): STARTS - LIMIT}
    refused = next(r.json() for r in responses if not r.json()["avatar"]["enabled"])
    assert "monthly_avatar_session_limit" in refused["avatar"]["detail"]
    assert "resets at" in refused["avatar"]["detail"]
    usage = (await client.get("/v1/tenant/usage", headers=acme.headers)).json()
    assert usage["current"]["avatar_sessions"] == LIMIT
    assert usage["remaining"]["avatar_sessions"] == 0
    assert await _count(database_url, "SELECT count(*) FROM quota_reservations") == LIMIT
    assert (
        await _count(
            database_url,
            "SELECT count(*) FROM conversations WHERE quota_reservation_id IS NOT NULL",
        )
        == LIMIT
    )


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test's own, for server processes to share."""
    database = PostgresTestDatabase(postgres_admin_url())
    try:
        asyncio.run(database.create())
    except OSError as exc:  # pragma: no cover - the postgres half of the suite reports it
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    yield database.url
    asyncio.run(database.drop())


async def _start_all(servers: list[ServerProcess], key: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=STARTS, max_keepalive_connections=STARTS)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        return await asyncio.gather(
            *(
                http.post(
                    servers[n % len(servers)].base_url + "/v1/conversations",
                    json=AVATAR,
                    headers={"Authorization": f"Bearer {key}"},
                )
                for n in range(STARTS)
            )
        )


@pytest.mark.slow
@pytest.mark.postgres
def test_two_server_processes_sharing_postgres_never_over_admit(
    shared_postgres: str, tmp_path: Path
) -> None:
    env = {
        "VISAVIS_DATABASE_URL": shared_postgres,
        "VISAVIS_SECRET_KEY": TEST_SECRET,
        "VISAVIS_RATE_LIMIT_TENANT_PER_S": "0",
        "VISAVIS_RATE_LIMIT_KEY_PER_S": "0",
        "VISAVIS_LOG_LEVEL": "warning",
    }
    runner = CliRunner()
    created = runner.invoke(cli, ["tenants", "create", "acme"], env=env)
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    limited = runner.invoke(
        cli, ["tenants", "prefs", "acme", "--monthly-avatar-session-limit", str(LIMIT)], env=env
    )
    assert limited.exit_code == 0, limited.output

    servers = [ServerProcess(cwd=tmp_path, env=env) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        try:
            list(pool.map(lambda server: server.start(), servers))
            responses = asyncio.run(_start_all(servers, key))
        finally:
            list(pool.map(lambda server: server.stop(), servers))

    assert _tally(responses) == {(True, None): LIMIT, (False, "quota_exceeded"): STARTS - LIMIT}
    served_by = Counter(str(r.url).split("/v1/")[0] for r in responses)
    assert len(served_by) == 2
    usage = runner.invoke(cli, ["tenants", "usage", "acme", "--json"], env=env)
    assert '"avatar_sessions": 100' in usage.stdout
