"""Every migration goes down and up again, on SQLite and PostgreSQL; ``visavis db downgrade``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from tests.db_support import PostgresTestDatabase
from visavis.cli import app
from visavis.db.base import Base
from visavis.db.engine import create_engine
from visavis.db.migrate import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    revisions,
    upgrade,
)
from visavis.mind.search_index import is_unmodelled


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own: going down must not disturb the shared one."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'walk.db'}"
        return
    shared: PostgresTestDatabase = request.getfixturevalue("postgres_database")
    fresh = PostgresTestDatabase(shared.admin_url)

    async def create() -> None:
        admin = create_engine(shared.admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{fresh.name}"'))
        finally:
            await admin.dispose()

    asyncio.run(create())
    try:
        yield fresh.url
    finally:
        asyncio.run(fresh.drop())


async def _at(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await current_revision(connection)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return set(names) - {"alembic_version"}


async def _schema_diff(engine: AsyncEngine) -> list[object]:
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

    async with engine.connect() as connection:
        return await connection.run_sync(diff)


def test_revisions_form_one_line_from_base_to_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    chain = revisions()
    assert chain[-1] == head_revision()
    assert len(set(chain)) == len(chain)
    for older, newer in zip([None, *chain], chain, strict=False):
        assert script.get_revision(newer).down_revision == older


async def test_every_migration_goes_down_and_up_again(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    chain = revisions()
    try:
        tables_at: dict[str | None, set[str]] = {None: set()}
        for revision in chain:  # up one step at a time, remembering each schema
            await upgrade(engine, revision)
            assert await _at(engine) == revision
            tables_at[revision] = await _tables(engine)
        for revision, older in reversed(list(zip(chain, [None, *chain], strict=False))):
            await downgrade(engine, "-1")  # down one step: exactly the older schema again
            assert await _at(engine) == older
            assert await _tables(engine) == tables_at[older], f"downgrade of {revision}"
            await upgrade(engine, revision)  # and up again: the same schema as before
            assert await _tables(engine) == tables_at[revision], f"re-upgrade of {revision}"
            await downgrade(engine, "-1")
        assert await _at(engine) is None
        assert await _tables(engine) == set()
        await upgrade(engine)
        assert await _schema_diff(engine) == []
    finally:
        await engine.dispose()


async def test_data_of_older_tables_survives_a_downgrade(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO tenants (id, name, created_at) "
                    "VALUES ('00000000-0000-7000-8000-000000000001', 'kept', CURRENT_TIMESTAMP)"
                )
            )
        await downgrade(engine, revisions()[0])
        await upgrade(engine)
        async with engine.connect() as connection:
            names = (await connection.execute(text("SELECT name FROM tenants"))).scalars().all()
        assert names == ["kept"]
    finally:
        await engine.dispose()


runner = CliRunner()


def test_cli_downgrade_one_step_then_upgrade(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISAVIS_DATABASE_URL", fresh_url)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    chain = revisions()
    down = runner.invoke(app, ["db", "downgrade", "--yes"])
    assert down.exit_code == 0, down.output
    assert f"database at revision {chain[-2]}" in down.stdout
    current = runner.invoke(app, ["db", "current"])
    assert current.stdout.startswith(chain[-2]) and "behind head" in current.stdout
    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0, up.output
    assert f"database at revision {chain[-1]} (head)" in up.stdout
    to_base = runner.invoke(app, ["db", "downgrade", "base", "--yes"])
    assert "none (empty schema)" in to_base.stdout
    too_far = runner.invoke(app, ["db", "downgrade", "--yes"])
    assert too_far.exit_code != 0
    assert len(too_far.stderr.strip().splitlines()) == 1


def test_cli_refuses_an_unknown_revision_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISAVIS_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    result = runner.invoke(app, ["db", "downgrade", "nonsense", "--yes"])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown revision 'nonsense'" in lines[0]


def test_cli_asks_before_dropping_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISAVIS_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["db", "downgrade"], input="n\n")
    assert result.exit_code != 0
    assert "dropped with their data" in result.stdout
    current = runner.invoke(app, ["db", "current"])
    assert "(head)" in current.stdout
