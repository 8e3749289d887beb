"""``visavis tenants prefs|usage``, ``visavis flags``, ``visavis secrets`` for the operator."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from visavis.cli import app
from visavis.tenancy.crypto import SecretBox

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VISAVIS_DATABASE_URL", database_url)
    assert runner.invoke(app, ["tenants", "create", "acme"]).exit_code == 0
    return database_url


def test_prefs_set_show_and_clear_limits(cli_env: str) -> None:
    changed = runner.invoke(
        app,
        [
            "tenants",
            "prefs",
            "acme",
            "--monthly-avatar-session-limit",
            "100",
            "--monthly-cost-limit-usd",
            "12.5",
            "--default-provider",
            "heygen",
            "--avatar-enabled-default",
        ],
    )
    assert changed.exit_code == 0, changed.output
    assert "monthly_avatar_session_limit: 100" in changed.stdout
    assert "monthly_cost_limit_usd: 12.5" in changed.stdout
    assert "default_provider: heygen" in changed.stdout
    assert "avatar_enabled_default: True" in changed.stdout

    cleared = runner.invoke(
        app, ["tenants", "prefs", "acme", "--monthly-avatar-session-limit", "none"]
    )
    assert "monthly_avatar_session_limit: unlimited" in cleared.stdout
    assert "monthly_cost_limit_usd: 12.5" in cleared.stdout  # untouched
    shown = runner.invoke(app, ["tenants", "prefs", "acme"])
    assert shown.stdout == cleared.stdout


def test_usage_as_a_table_and_as_json(cli_env: str) -> None:
    runner.invoke(app, ["tenants", "prefs", "acme", "--monthly-avatar-session-limit", "7"])
    table = runner.invoke(app, ["tenants", "usage", "acme"])
    assert table.exit_code == 0, table.output
    assert "sessions 7" in table.stdout
    usage = json.loads(runner.invoke(app, ["tenants", "usage", "acme", "--json"]).stdout)
    assert usage["current"]["avatar_sessions"] == 0
    assert usage["remaining"]["avatar_sessions"] == 7


def test_flags_set_tenant_show_and_changes(cli_env: str) -> None:
    assert runner.invoke(app, ["tenants", "create", "globex"]).exit_code == 0
    rolled = runner.invoke(app, ["flags", "set", "avatar", "--rollout-percent", "20"])
    assert rolled.exit_code == 0, rolled.output
    assert "rollout=20%" in rolled.stdout
    runner.invoke(app, ["flags", "tenant", "avatar", "acme", "beta"])
    runner.invoke(app, ["flags", "tenant", "avatar", "globex", "off", "--actor", "bob"])
    killed = runner.invoke(app, ["flags", "set", "avatar", "--kill-switch", "--actor", "bob"])
    assert "kill_switch=True" in killed.stdout

    shown = runner.invoke(app, ["flags", "show"])
    assert "20%" in shown.stdout and "acme=beta" in shown.stdout and "globex=off" in shown.stdout
    changes = runner.invoke(app, ["flags", "changes", "avatar"]).stdout.splitlines()
    assert len(changes) == 4
    assert "cli:bob" in changes[0] and '"kill_switch": [false, true]' in changes[0]
    assert "tenant=globex" in changes[1] and '"state": [null, "off"]' in changes[1]


def test_operator_mistakes_are_one_line_errors(cli_env: str) -> None:
    for args, fragment in [
        (["flags", "set", "avatar"], "nothing to change"),
        (["flags", "set", "nope", "--enabled"], "known flags: avatar"),
        (["flags", "tenant", "avatar", "acme", "maybe"], "on, off, beta, clear"),
        (["flags", "tenant", "avatar", "ghost", "on"], "no tenant named 'ghost'"),
        (["tenants", "prefs", "acme", "--monthly-avatar-seconds-limit", "lots"], "a number"),
        (["tenants", "prefs", "acme", "--default-provider", "bogus"], "default-provider"),
        (["tenants", "usage", "ghost"], "no tenant named 'ghost'"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert fragment in lines[0], (args, lines[0])


def test_generate_key_makes_a_usable_encryption_key() -> None:
    result = runner.invoke(app, ["secrets", "generate-key"])
    assert result.exit_code == 0
    box = SecretBox([result.stdout.strip()])
    assert box.decrypt(box.encrypt("x")) == "x"
