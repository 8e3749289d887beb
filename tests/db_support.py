"""Test databases: every database test runs on SQLite and on PostgreSQL, each run isolated.

PostgreSQL: one database per test run (``visavis_test_<time>_<random>``), migrated once and
emptied between tests. SQLite: one migrated template file per run, copied for each test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from visavis.db.engine import create_engine
from visavis.db.migrate import upgrade

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
_STALE_AFTER_S = 6 * 3600


def postgres_admin_url() -> str:
    return os.environ.get("VISAVIS_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def postgres_reachable(url: str) -> str | None:
    """``None`` when PostgreSQL answers, else the reason it doesn't."""
    try:
        connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await connection.close()
    return None


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


class PostgresTestDatabase:
    """A database of its own for this test run, dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"visavis_test_{int(time.time())}_{secrets.token_hex(4)}"
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)
        self._tables: list[str] = []

    async def create(self) -> None:
        admin = await asyncpg.connect(_asyncpg_dsn(self.admin_url), timeout=10)
        try:
            await self._drop_stale(admin)
            await admin.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await admin.close()
        await _migrate(self.url)
        connection = await asyncpg.connect(_asyncpg_dsn(self.url), timeout=10)
        try:
            rows = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        finally:
            await connection.close()
        self._tables = [r["tablename"] for r in rows]

    async def _drop_stale(self, admin: asyncpg.Connection) -> None:
        rows = await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'visavis_test_%'"
        )
        for row in rows:
            parts = row["datname"].split("_")
            if (
                len(parts) >= 3
                and parts[2].isdigit()
                and time.time() - int(parts[2]) > _STALE_AFTER_S
            ):
                await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')

    async def empty(self) -> None:
        """Remove every row (the schema stays), so each test starts from nothing."""
        if not self._tables:
            return
        connection = await asyncpg.connect(_asyncpg_dsn(self.url), timeout=10)
        try:
            tables = ", ".join(f'"{t}"' for t in self._tables)
            await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        finally:
            await connection.close()

    async def drop(self) -> None:
        admin = await asyncpg.connect(_asyncpg_dsn(self.admin_url), timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await admin.close()


class SqliteTemplate:
    """A migrated SQLite file, copied for each test."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"

    def create(self) -> None:
        asyncio.run(_migrate(f"sqlite+aiosqlite:///{self.path}"))

    def copy_to(self, directory: Path) -> str:
        target = directory / "visavis.db"
        shutil.copyfile(self.path, target)
        return f"sqlite+aiosqlite:///{target}"
