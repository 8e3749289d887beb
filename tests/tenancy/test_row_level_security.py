"""PostgreSQL row-level security: a tenant's transaction sees only its rows, whatever it forgets."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import TenantFactory
from tests.db_support import PostgresTestDatabase
from visavis.api.deps import PrincipalDep, SessionDep
from visavis.context import AppContext
from visavis.db.models import Conversation
from visavis.db.repositories.transcripts import TranscriptRepository
from visavis.db.tenant_scope import POLICY_NAME, TENANT_ROLE, scope_to_tenant


@pytest.fixture(params=["postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Row-level security is PostgreSQL's: these tests run there only."""
    database: PostgresTestDatabase = request.getfixturevalue("postgres_database")
    asyncio.run(database.empty())
    return database.url


async def _two_tenants_with_data(
    ctx: AppContext, make_tenant: TenantFactory
) -> tuple[uuid.UUID, uuid.UUID]:
    a = uuid.UUID((await make_tenant("alpha")).tenant_id)
    b = uuid.UUID((await make_tenant("beta")).tenant_id)
    async with ctx.sessions() as session:
        for tenant, n in ((a, 2), (b, 3)):
            for i in range(n):
                conversation = Conversation(tenant_id=tenant, agent="interviewer", user_ref=f"u{i}")
                session.add(conversation)
                await session.flush()
                await TranscriptRepository(session, tenant).append(
                    conversation_id=conversation.id, role="user", text=f"private {tenant}"
                )
        await session.commit()
    return a, b


async def _rows(session: Any, sql: str) -> list[Any]:
    return list((await session.execute(text(sql))).scalars())


async def test_a_scoped_transaction_cannot_read_other_tenants_rows(
    ctx: AppContext, make_tenant: TenantFactory
) -> None:
    a, b = await _two_tenants_with_data(ctx, make_tenant)
    async with ctx.sessions() as session:
        await scope_to_tenant(session, a)
        # Queries that "forget" the tenant filter.
        assert set(await _rows(session, "SELECT tenant_id FROM conversations")) == {a}
        assert len(await _rows(session, "SELECT id FROM conversations")) == 2
        assert set(await _rows(session, "SELECT tenant_id FROM transcript_entries")) == {a}
        assert await _rows(session, "SELECT id FROM tenants") == [a]
        assert set(await _rows(session, "SELECT tenant_id FROM api_keys")) == {a}
        assert await _rows(session, "SELECT current_user") == [TENANT_ROLE]
        await session.commit()
        # A later transaction of the same session is scoped again.
        assert set(await _rows(session, "SELECT tenant_id FROM conversations")) == {a}
        # Writes that forget the filter touch only this tenant's rows.
        updated = await session.execute(text("UPDATE conversations SET user_ref = 'touched'"))
        assert updated.rowcount == 2  # type: ignore[attr-defined]
        await session.commit()
    async with ctx.sessions() as session:  # unscoped: the administrative view
        assert len(await _rows(session, "SELECT id FROM conversations")) == 5
        touched = await _rows(
            session, "SELECT tenant_id FROM conversations WHERE user_ref = 'touched'"
        )
        assert set(touched) == {a}
    assert b not in touched


async def test_a_scoped_transaction_cannot_write_rows_for_another_tenant(
    ctx: AppContext, make_tenant: TenantFactory
) -> None:
    a, b = await _two_tenants_with_data(ctx, make_tenant)
    async with ctx.sessions() as session:
        await scope_to_tenant(session, a)
        session.add(Conversation(tenant_id=b, agent="interviewer"))
        with pytest.raises(DBAPIError, match="row-level security"):
            await session.flush()
        await session.rollback()
        deleted = await session.execute(text("DELETE FROM transcript_entries"))
        assert deleted.rowcount == 2  # type: ignore[attr-defined]
        await session.rollback()


async def test_every_tenant_owned_table_has_the_policy(ctx: AppContext) -> None:
    async with ctx.engine.connect() as connection:
        owned = set(
            (
                await connection.execute(
                    text(
                        "SELECT table_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND column_name = 'tenant_id'"
                    )
                )
            ).scalars()
        ) | {"tenants"}
        protected = set(
            (
                await connection.execute(
                    text(
                        "SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
                        "WHERE c.relrowsecurity AND p.polname = :policy"
                    ),
                    {"policy": POLICY_NAME},
                )
            ).scalars()
        )
    missing = owned - protected
    assert missing == set(), (
        f"tenant-owned tables without row-level security: {sorted(missing)}; "
        "enable it in their migration with visavis.db.tenant_scope.enable_tenant_rls_sql"
    )


async def test_api_requests_run_in_their_tenants_scope(
    app: FastAPI, client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")

    async def whoami(principal: PrincipalDep, session: SessionDep) -> dict[str, str]:
        row = (
            await session.execute(
                text("SELECT current_user, current_setting('app.tenant_id', true)")
            )
        ).one()
        return {"role": row[0], "tenant": row[1], "principal": str(principal.tenant_id)}

    app.router.add_api_route("/test/whoami", whoami, methods=["GET"])
    body = (await client.get("/test/whoami", headers=acme.headers)).json()
    assert body == {"role": TENANT_ROLE, "tenant": acme.tenant_id, "principal": acme.tenant_id}
