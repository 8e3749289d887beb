"""Liveness and readiness."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text

from visavis.context import AppContext


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_readiness_probes_leave_the_log_quiet(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert (await client.get("/readyz")).status_code == 200
    # The test's own HTTP client logs its requests; the server must add nothing per probe.
    server_lines = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert server_lines == []


async def test_readyz_refuses_a_database_behind_head(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    async with ctx.engine.begin() as connection:
        head = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        await connection.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    try:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert "visavis db upgrade" in response.json()["detail"]
    finally:
        # The PostgreSQL test database is shared by the run's tests: put the schema back.
        async with ctx.engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )
