"""Migration 0005 down and up again, on a fresh SQLite file and a fresh PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tests.db_support import PostgresTestDatabase
from visavis.db.engine import create_engine
from visavis.db.migrate import alembic_config, head_revision, upgrade

TWIN_TABLES = {
    "twins",
    "memory_items",
    "memory_queries",
    "voice_profiles",
    "voice_samples",
    "voice_consents",
}


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _down_and_up(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            assert await connection.run_sync(_tables) >= TWIN_TABLES
            await connection.run_sync(_downgrade, "0004")
        async with engine.connect() as connection:
            left = await connection.run_sync(_tables)
            assert not (TWIN_TABLES & left)
            assert not any(t.startswith("memory_items_fts") for t in left)
            columns = await connection.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("conversations")}
            )
            assert "twin_id" not in columns
        await upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) >= TWIN_TABLES
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            assert version == head_revision()
    finally:
        await engine.dispose()


async def test_sqlite_downgrade_removes_the_twin_tables_and_index(tmp_path: Path) -> None:
    await _down_and_up(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


async def test_postgres_downgrade_removes_the_twin_tables_and_policies(
    postgres_database: PostgresTestDatabase,
) -> None:
    fresh = PostgresTestDatabase(postgres_database.admin_url)
    admin = create_engine(postgres_database.admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{fresh.name}"'))
        await _down_and_up(fresh.url)
    finally:
        await admin.dispose()
        await fresh.drop()
