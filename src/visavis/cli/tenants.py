"""``visavis tenants`` and ``visavis keys``: tenants and their API keys."""

from __future__ import annotations

import re

import typer
from rich.console import Console
from rich.table import Table

from visavis.cli.errors import fail, load_settings, run_async
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.repositories.api_keys import ApiKeyRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.tenancy.keys import generate_key

tenants_app = typer.Typer(help="Tenants (the customers of this deployment).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of tenants.", no_args_is_help=True)

_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


async def _create_tenant(url: str, name: str) -> str:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            tenant = await TenantRepository(session).create(name=name)
            key = generate_key()
            await ApiKeyRepository(session).add(tenant_id=tenant.id, key=key)
            await session.commit()
            return key.plaintext
    finally:
        await engine.dispose()


async def _list_tenants(url: str) -> list[tuple[str, str, str, int]]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            rows = []
            for tenant in await TenantRepository(session).list():
                keys = await ApiKeyRepository(session).list_for_tenant(tenant.id)
                active = sum(1 for k in keys if k.revoked_at is None)
                rows.append((tenant.name, str(tenant.id), tenant.created_at.isoformat(), active))
            return rows
    finally:
        await engine.dispose()


async def _create_key(url: str, tenant_name: str) -> str:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            tenant = await TenantRepository(session).get_by_name(tenant_name)
            key = generate_key()
            await ApiKeyRepository(session).add(tenant_id=tenant.id, key=key)
            await session.commit()
            return key.plaintext
    finally:
        await engine.dispose()


async def _revoke_key(url: str, prefix: str) -> bool:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            repo = ApiKeyRepository(session)
            was_active = await repo.find_active(prefix) is not None
            await repo.revoke(prefix)
            await session.commit()
            return was_active
    finally:
        await engine.dispose()


@tenants_app.command("create")
def create_tenant(name: str) -> None:
    """Create a tenant and print its first API key (shown once, never stored)."""
    if not _TENANT_NAME.match(name):
        fail("a tenant name is 1-100 letters, digits, '.', '_' or '-', starting alphanumeric")
    key = run_async(_create_tenant(load_settings().database_url, name))
    typer.echo(key)
    typer.echo(f"created tenant {name!r}; keep the key above, it is not shown again", err=True)


@tenants_app.command("list")
def list_tenants() -> None:
    """List tenants with their number of active keys."""
    rows = run_async(_list_tenants(load_settings().database_url))
    table = Table("name", "id", "created", "active keys")
    for name, tenant_id, created, active in rows:
        table.add_row(name, tenant_id, created, str(active))
    Console().print(table)


@keys_app.command("create")
def create_key(tenant: str) -> None:
    """Create another API key for TENANT (by name) and print it once."""
    key = run_async(_create_key(load_settings().database_url, tenant))
    typer.echo(key)


@keys_app.command("revoke")
def revoke_key(key_prefix: str) -> None:
    """Revoke the key whose prefix (its first 11 characters) is KEY_PREFIX."""
    was_active = run_async(_revoke_key(load_settings().database_url, key_prefix))
    typer.echo(f"revoked {key_prefix}" if was_active else f"{key_prefix} was already revoked")
