"""``visavis sweep``: stop orphaned provider sessions now (the server also does it on a timer)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from visavis.avatars.store import AvatarStore
from visavis.cli.errors import load_settings, run_async
from visavis.config import Settings
from visavis.db.engine import create_engine, create_session_factory
from visavis.ops.sweeper import Sweeper, SweepReport
from visavis.tenancy.crypto import SecretBox


async def _sweep(settings: Settings, *, dry_run: bool) -> SweepReport:
    from visavis.components import build_avatars, build_tts  # heavy: only when sweeping

    engine = create_engine(settings.database_url)
    providers = build_avatars(settings, build_tts(settings))
    try:
        sessions = create_session_factory(engine)
        box = SecretBox.from_config(
            encryption_keys=(
                settings.encryption_keys.get_secret_value() if settings.encryption_keys else None
            ),
            secret_key=settings.secret_key.get_secret_value(),
        )
        sweeper = Sweeper(
            sessions=sessions,
            store=AvatarStore(sessions, providers, box),
            providers=providers,
            client_timeout_s=settings.client_heartbeat_timeout_s,
            stop_unknown=settings.sweep_unknown_sessions,
        )
        return await sweeper.sweep(dry_run=dry_run)
    finally:
        for provider in providers.values():
            await provider.aclose()
        await engine.dispose()


def sweep(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be stopped."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Stop provider sessions of ended conversations, vanished clients, or past their length."""
    report = run_async(_sweep(load_settings(), dry_run=dry_run))
    if as_json:
        typer.echo(json.dumps(report.__dict__, indent=2))
    else:
        rows = report.would_stop if dry_run else report.stopped + report.reconciled
        table = Table("provider", "provider session", "conversation", "reason")
        for row in rows:
            table.add_row(
                row["provider"],
                row["provider_session"],
                row.get("conversation", "-"),
                row["reason"],
            )
        Console().print(table)
        verb = "would stop" if dry_run else "stopped"
        typer.echo(f"{verb} {len(rows)} provider session(s)")
    for error in report.errors:
        typer.echo(f"visavis: warning: {error}", err=True)
