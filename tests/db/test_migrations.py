"""Migrations: match the models, run twice, run from two processes at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tests.db_support import PostgresTestDatabase
from visavis.db.base import Base
from visavis.db.engine import create_engine
from visavis.db.migrate import current_revision, head_revision, upgrade
from visavis.mind.search_index import is_unmodelled


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                # The full-text indexes of twin memory are outside the models on purpose.
                "include_name": lambda name, _type, _parent: not is_unmodelled(name),
            },
        )
        return list(compare_metadata(context, Base.metadata))

    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
            assert await current_revision(connection) == head_revision()
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_harmless(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
            assert {"tenants", "conversations", "transcript_entries"} <= set(tables)
    finally:
        await engine.dispose()


def _upgrade_in_two_processes(url: str, cwd: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from visavis.db.engine import create_engine\n"
        "from visavis.db.migrate import upgrade\n"
        "async def main():\n"
        "    engine = create_engine(sys.argv[1])\n"
        "    await upgrade(engine)\n"
        "    await engine.dispose()\n"
        "asyncio.run(main())\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], cwd=cwd, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()


async def test_two_processes_migrating_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    _upgrade_in_two_processes(url, tmp_path)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            assert await current_revision(connection) == head_revision()
    finally:
        await engine.dispose()


async def test_two_processes_migrating_an_empty_postgres_database(
    postgres_database: PostgresTestDatabase, tmp_path: Path
) -> None:
    fresh = PostgresTestDatabase(postgres_database.admin_url)
    admin = create_engine(postgres_database.admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{fresh.name}"'))
        _upgrade_in_two_processes(fresh.url, tmp_path)
        engine = create_engine(fresh.url)
        try:
            async with engine.connect() as connection:
                assert await current_revision(connection) == head_revision()
                count = await connection.scalar(text("SELECT count(*) FROM alembic_version"))
                assert count == 1
        finally:
            await engine.dispose()
    finally:
        await admin.dispose()
        await fresh.drop()
