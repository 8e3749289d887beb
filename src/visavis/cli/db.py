"""``visavis db``: apply and inspect schema migrations."""

from __future__ import annotations

import typer

from visavis.cli.errors import load_settings, run_async
from visavis.db.engine import create_engine
from visavis.db.migrate import current_revision, head_revision, upgrade

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
