"""Apply and inspect Alembic migrations; safe to run twice and from two processes at once."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from visavis.db.engine import sqlite_path

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
_CURRENT_SQL = text("SELECT version_num FROM alembic_version")
# An arbitrary constant naming "Visavis schema migrations" among PostgreSQL advisory locks.
_PG_MIGRATION_LOCK = 0x76697361


def alembic_config(url: str = "") -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextlib.asynccontextmanager
async def _sqlite_file_lock(path: Path) -> AsyncIterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".migrate.lock")
    with lock_path.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision``, serialized against other processes doing the same."""
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    lock: contextlib.AbstractAsyncContextManager[None] = (
        _sqlite_file_lock(path) if path is not None else contextlib.nullcontext()
    )
    async with lock, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held until this transaction commits: a second process waits, then finds head.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        await connection.run_sync(_upgrade, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the schema back to ``revision`` (``-1``: one step; ``base``: nothing), serialized
    like :func:`upgrade`. Data of the dropped tables and columns is lost."""
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    lock: contextlib.AbstractAsyncContextManager[None] = (
        _sqlite_file_lock(path) if path is not None else contextlib.nullcontext()
    )
    async with lock, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        await connection.run_sync(_downgrade, revision)


def revisions() -> list[str]:
    """Every revision the code knows, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


async def current_revision(connection: AsyncConnection) -> str | None:
    """The revision the database is at, or ``None`` when it has never been migrated."""

    def _current(sync_connection: Connection) -> str | None:
        # Read directly: a MigrationContext logs two lines at INFO on every readiness probe.
        if not inspect(sync_connection).has_table(VERSION_TABLE):
            return None
        revisions = sync_connection.execute(_CURRENT_SQL).scalars().all()
        # Several rows (branches, which this project does not use) read as one unknown name.
        return ",".join(sorted(str(r) for r in revisions)) or None

    return await connection.run_sync(_current)
