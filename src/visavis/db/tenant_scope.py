"""Row-level security on PostgreSQL: the second line of tenant isolation.

Repositories scope every query by tenant (the first line). On PostgreSQL, a transaction that
serves one tenant also switches to the ``visavis_tenant`` role (``NOLOGIN``, never the table
owner, so row-level security applies to it) and sets ``app.tenant_id``; the policies then hide
every other tenant's rows even from a query that forgets its tenant filter. Both are ``LOCAL``
to the transaction, so pooled connections come back clean; a session scoped with
:func:`scope_to_tenant` re-applies them at the start of each of its transactions.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

TENANT_ROLE = "visavis_tenant"
TENANT_SETTING = "app.tenant_id"
POLICY_NAME = "tenant_isolation"

_INFO_TENANT = "visavis.tenant_id"
_INFO_ROLE = "visavis.tenant_role"
_SCOPE_SQL = text("SELECT set_config(:setting, :tenant, true), set_config('role', :role, true)")
_TENANT_ONLY_SQL = text("SELECT set_config(:setting, :tenant, true)")


class TenantScopedSession(Session):
    """A session that re-applies its tenant scope at the start of every transaction."""


@event.listens_for(TenantScopedSession, "after_begin")
def _apply_scope(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    tenant = session.info.get(_INFO_TENANT)
    if tenant is not None and connection.dialect.name == "postgresql":
        connection.execute(*_scope_statement(tenant, session.info.get(_INFO_ROLE)))


def _scope_statement(tenant: str, role: str | None) -> tuple[Any, dict[str, str]]:
    if role is None:
        return _TENANT_ONLY_SQL, {"setting": TENANT_SETTING, "tenant": tenant}
    return _SCOPE_SQL, {"setting": TENANT_SETTING, "tenant": tenant, "role": role}


def install_tenant_scoping(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Make ``sessions`` produce sessions that :func:`scope_to_tenant` can scope."""
    sessions.configure(sync_session_class=TenantScopedSession)


async def scope_to_tenant(
    session: AsyncSession, tenant_id: uuid.UUID, *, switch_role: bool = True
) -> None:
    """Scope this transaction and every later one of ``session`` to ``tenant_id``.

    ``switch_role=False`` only sets ``app.tenant_id`` (for databases whose user may not switch
    to the tenant role); the policies then apply only to other, non-owner users.
    """
    if not isinstance(session.sync_session, TenantScopedSession):
        raise TypeError("the session factory was not set up with install_tenant_scoping()")
    tenant = str(tenant_id)
    role = TENANT_ROLE if switch_role else None
    session.info[_INFO_TENANT] = tenant
    session.info[_INFO_ROLE] = role
    if session.in_transaction() and session.sync_session.get_bind().dialect.name == "postgresql":
        await session.execute(*_scope_statement(tenant, role))


def scoped_tenant(session: AsyncSession) -> uuid.UUID | None:
    """The tenant ``session`` is scoped to, if any."""
    tenant = session.info.get(_INFO_TENANT)
    return None if tenant is None else uuid.UUID(tenant)


# --- migrations -------------------------------------------------------------------------------


def create_tenant_role_sql() -> list[str]:
    """SQL that creates the tenant role once per cluster and lets the migrating user use it."""
    return [
        # Roles are cluster-wide: another database (or a concurrent migration) may have made it.
        f"""DO $$ BEGIN
  CREATE ROLE {TENANT_ROLE} NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$""",
        # A superuser may SET ROLE to anything; any other owner needs the membership.
        f"""DO $$ BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
     AND NOT pg_has_role(current_user, '{TENANT_ROLE}', 'MEMBER') THEN
    EXECUTE format('GRANT {TENANT_ROLE} TO %I', current_user);
  END IF;
END $$""",  # noqa: S608 - constants only
        f"""DO $$ BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO {TENANT_ROLE}', current_schema());
  EXECUTE format(
    'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {TENANT_ROLE}',
    current_schema());
  EXECUTE format(
    'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO {TENANT_ROLE}', current_schema());
  -- Tables of later migrations are usable too (their policies are theirs to add).
  EXECUTE format(
    'ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
    'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {TENANT_ROLE}',
    current_schema());
  EXECUTE format(
    'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO {TENANT_ROLE}',
    current_schema());
  REVOKE ALL ON alembic_version FROM {TENANT_ROLE};
END $$""",  # noqa: S608 - constants only
    ]


def drop_tenant_grants_sql() -> list[str]:
    """The reverse of :func:`create_tenant_role_sql`, except the (cluster-wide) role itself."""
    return [
        f"""DO $$ BEGIN
  EXECUTE format(
    'ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
    'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {TENANT_ROLE}',
    current_schema());
  EXECUTE format(
    'ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE USAGE, SELECT ON SEQUENCES FROM {TENANT_ROLE}',
    current_schema());
  EXECUTE format(
    'REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM {TENANT_ROLE}', current_schema());
  EXECUTE format(
    'REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM {TENANT_ROLE}', current_schema());
  EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {TENANT_ROLE}', current_schema());
END $$""",  # noqa: S608 - constants only
    ]


def enable_tenant_rls_sql(table: str, column: str = "tenant_id") -> list[str]:
    """SQL that turns on row-level security for ``table``, owned through ``column``.

    Later migrations adding a tenant-owned table call this too (a test checks every table with
    a ``tenant_id`` column has the policy).
    """
    check = f"{column} = NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}",
        f"CREATE POLICY {POLICY_NAME} ON {table} FOR ALL TO {TENANT_ROLE} "
        f"USING ({check}) WITH CHECK ({check})",
    ]


def disable_tenant_rls_sql(table: str) -> list[str]:
    """The reverse of :func:`enable_tenant_rls_sql`."""
    return [
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
