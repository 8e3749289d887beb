"""The ``visavis`` command line."""

from __future__ import annotations

import typer

from visavis.cli import admin, db, serve, speech, sweep, tenants
from visavis.cli import mind as mind_cli
from visavis.cli import twins as twins_cli
from visavis.cli.transcribe import transcribe
from visavis.tenancy.log_redaction import install_log_redaction

app = typer.Typer(
    name="visavis",
    help="Visavis: real-time conversational AI avatars.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.add_typer(db.app, name="db")
app.add_typer(tenants.tenants_app, name="tenants")
app.add_typer(tenants.keys_app, name="keys")
tenants.tenants_app.command("prefs")(admin.tenant_prefs)
tenants.tenants_app.command("usage")(admin.tenant_usage)
app.add_typer(admin.flags_app, name="flags")
app.add_typer(admin.secrets_app, name="secrets")
speech.register(app)
app.command("sweep")(sweep.sweep)
app.add_typer(twins_cli.twins_app, name="twins")
app.add_typer(mind_cli.mind_app, name="mind")
app.command("transcribe")(transcribe)


@app.callback()
def _redact_logs() -> None:
    """Visavis: real-time conversational AI avatars."""
    install_log_redaction()  # no key, token or secret in any log line of any command


def main() -> None:
    """Entry point of the ``visavis`` script."""
    app()
