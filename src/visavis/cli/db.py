"""``visavis db``: apply and inspect schema migrations."""

from __future__ import annotations

import re

import typer
from alembic.util import CommandError

from visavis.cli.errors import fail, load_settings, run_async
from visavis.db.engine import create_engine
from visavis.db.migrate import current_revision, downgrade, head_revision, revisions, upgrade

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


async def upgrade_database(url: str) -> str | None:
    """Migrate the database at ``url`` to head and return the revision it is at."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            return await current_revision(connection)
    finally:
        await engine.dispose()


async def _current(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await current_revision(connection)
    finally:
        await engine.dispose()


@app.command("upgrade")
def upgrade_command() -> None:
    """Apply every pending migration (safe to run twice, or from two processes at once)."""
    settings = load_settings()
    revision = run_async(upgrade_database(settings.database_url))
    typer.echo(f"database at revision {revision} (head)")


@app.command("current")
def current_command() -> None:
    """Print the revision the database is at, and whether it is the newest."""
    settings = load_settings()
    revision = run_async(_current(settings.database_url))
    head = head_revision()
    state = "head" if revision == head else f"behind head {head}: run 'visavis db upgrade'"
    typer.echo(f"{revision or 'none'} ({state})")


async def downgrade_database(url: str, revision: str) -> str | None:
    """Take the database at ``url`` back to ``revision`` and return the revision it is at."""
    engine = create_engine(url)
    try:
        await downgrade(engine, revision)
        async with engine.connect() as connection:
            return await current_revision(connection)
    finally:
        await engine.dispose()


def _check_target(revision: str) -> None:
    known = revisions()
    if revision in known or revision == "base" or re.fullmatch(r"-[1-9][0-9]*", revision):
        return
    fail(
        f"unknown revision {revision!r}: give one of {', '.join(known)}, 'base', "
        "or -N for N steps back"
    )


@app.command("downgrade")
def downgrade_command(
    revision: str = typer.Argument("-1", help="Target revision, 'base', or -N steps back."),
    yes: bool = typer.Option(False, "--yes", help="Don't ask: the dropped data is lost."),
) -> None:
    """Undo migrations down to REVISION (default: the newest one only); for rollbacks.

    Stop every instance running the newer code first: it needs the newer schema.
    """
    _check_target(revision)
    settings = load_settings()
    if not yes:
        typer.confirm(
            f"Downgrade the database to {revision}? Tables and columns added since are "
            "dropped with their data (take a backup first)",
            abort=True,
        )
    try:
        at = run_async(downgrade_database(settings.database_url, revision))
    except CommandError as exc:
        fail(f"cannot downgrade to {revision}: {exc}")
    typer.echo(f"database at revision {at or 'none (empty schema)'}")
