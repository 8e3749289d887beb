"""The ``visavis`` command line: tenants, keys, migrations, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from visavis.cli import app

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VISAVIS_DATABASE_URL", database_url)
    return database_url


def test_tenants_and_keys_lifecycle(cli_env: str) -> None:
    created = runner.invoke(app, ["tenants", "create", "acme"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("vv_") and len(key) > 30

    listing = runner.invoke(app, ["tenants", "list"])
    assert "acme" in listing.stdout

    second = runner.invoke(app, ["keys", "create", "acme"])
    assert second.exit_code == 0
    other_key = second.stdout.strip()
    assert other_key != key

    revoked = runner.invoke(app, ["keys", "revoke", key[:11]])
    assert revoked.exit_code == 0
    assert "revoked" in revoked.stdout
    twice = runner.invoke(app, ["keys", "revoke", key[:11]])
    assert "already revoked" in twice.stdout


def test_errors_are_one_line_on_stderr_with_nonzero_exit(cli_env: str) -> None:
    assert runner.invoke(app, ["tenants", "create", "acme"]).exit_code == 0
    for args, fragment in [
        (["tenants", "create", "acme"], "already exists"),
        (["tenants", "create", "bad name!"], "tenant name"),
        (["keys", "create", "nobody"], "no tenant named"),
        (["keys", "revoke", "vv_nothing"], "no API key"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code != 0, args
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert fragment in lines[0]


def test_db_upgrade_twice_and_current(cli_env: str) -> None:
    first = runner.invoke(app, ["db", "upgrade"])
    second = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == second.exit_code == 0
    current = runner.invoke(app, ["db", "current"])
    assert "(head)" in current.stdout


def test_settings_errors_are_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISAVIS_")}
    cases = [
        ({"VISAVIS_ENV": "production"}, "VISAVIS_SECRET_KEY"),
        ({"VISAVIS_DATABASE_URL": "mysql://db/x"}, "unsupported database URL"),
        ({"VISAVIS_PORT": "not-a-port"}, "port"),
        ({"VISAVIS_STT_PAUSE_MS": "150"}, "VISAVIS_STT_PAUSE_MS must be 0 (off) or at least 200"),
        (
            {"VISAVIS_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/x"},
            "cannot reach",
        ),
    ]
    for extra, fragment in cases:
        result = subprocess.run(
            [sys.executable, "-m", "visavis", "db", "current"],
            env=env | extra,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert fragment in lines[0]
