"""``visavis twins`` and ``visavis mind``: the demo twin, imports with progress, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from visavis.cli import app

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VISAVIS_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "300")  # tables unwrapped, so cells can be asserted
    return database_url


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_demo_twin_answers_and_keeps_its_questions(cli_env: str) -> None:
    twin = _ok(["twins", "demo"]).strip()
    assert _ok(["twins", "demo"]).strip() == twin  # seeded once
    assert "Maya Okafor (demo)" in _ok(["twins", "list", "local"])
    assert "offline" in _ok(["twins", "show", "local", twin])
    answer = runner.invoke(app, ["twins", "ask", "local", twin, "Do you have any pets?"])
    assert answer.exit_code == 0 and "Pastel" in answer.stdout
    assert "used: " in answer.stderr and "nothing" not in answer.stderr
    unknown = _ok(["twins", "ask", "local", twin, "What is your blood type?"])
    assert "don't know" in unknown
    assert "Do you have any pets?" in _ok(["mind", "queries", "local", twin])
    assert "Red Dot" in _ok(["mind", "search", "local", twin, "Did you win a prize?"])
    exported = [json.loads(x) for x in _ok(["mind", "export", "local", twin]).splitlines()]
    assert len(exported) == 58
    assert sum(1 for x in exported if x["type"] == "fact" and "valid_until" in x) == 2


def test_import_shows_progress_and_refuses_broken_files_whole(cli_env: str, tmp_path: Path) -> None:
    _ok(["tenants", "create", "acme"])
    twin = _ok(["twins", "create", "acme", "Ana", "--bio", "A baker.", "--style", "brief"]).strip()
    good = tmp_path / "memory.jsonl"
    good.write_text(
        '{"statement": "I bake bread every night.", "subject": "work"}\n'
        '{"title": "The first loaf", "text": "It was flat and I ate it anyway."}\n'
    )
    imported = runner.invoke(app, ["mind", "import", "acme", twin, str(good)])
    assert imported.exit_code == 0, imported.output
    assert "imported 1 facts and 1 stories" in imported.stdout
    assert "importing" in imported.stderr and "2/2" in imported.stderr

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"statement": "I also sell cakes."}\n{"statement": \n')
    refused = runner.invoke(app, ["mind", "import", "acme", twin, str(broken)])
    assert refused.exit_code != 0
    assert refused.stderr.count("\n") == 1 and "line 2" in refused.stderr
    binary = tmp_path / "photo.md"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\x00")
    corrupt = runner.invoke(app, ["mind", "import", "acme", twin, str(binary)])
    assert corrupt.exit_code != 0 and "not UTF-8" in corrupt.stderr
    unknown = runner.invoke(app, ["mind", "import", "acme", twin, str(tmp_path / "x.txt")])
    assert unknown.exit_code != 0 and "--format" in unknown.stderr
    facts = _ok(["mind", "facts", "acme", twin])
    assert "bake bread" in facts and "cakes" not in facts

    replaced = runner.invoke(
        app, ["mind", "add-fact", "acme", twin, "I bake cakes now.", "--subject", "work"]
    )
    assert replaced.exit_code == 0 and "replaced 1" in replaced.stderr
    assert "until" in _ok(["mind", "facts", "acme", twin])
    assert "The first loaf" in _ok(["mind", "stories", "acme", twin])

    for args, fragment in [
        (["twins", "show", "acme", "not-an-id"], "not a twin id"),
        (["twins", "show", "nobody", twin], "no tenant named"),
        (["twins", "create", "acme", "X", "--llm-url", "http://h/v1"], "--llm-model"),
        (["mind", "facts", "local-less", twin], "no tenant named"),
    ]:
        failed = runner.invoke(app, args)
        assert failed.exit_code != 0 and fragment in failed.stderr, (args, failed.output)
        assert failed.stderr.count("\n") == 1
    other = _ok(["tenants", "create", "other"]) and "other"
    foreign = runner.invoke(app, ["twins", "show", other, twin])
    assert foreign.exit_code != 0 and "twin not found" in foreign.stderr
    _ok(["twins", "delete", "acme", twin])
    assert "Ana" not in _ok(["twins", "list", "acme"])


def test_a_twin_created_with_terms_shows_its_vocabulary(cli_env: str) -> None:
    runner.invoke(app, ["tenants", "create", "acme"])
    twin = _ok(["twins", "create", "acme", "Maya", "--term", "Zalando", "--term", "Porto"]).strip()
    assert json.loads(_ok(["twins", "show", "acme", twin]))["vocabulary"] == ["Zalando", "Porto"]
    bad = runner.invoke(app, ["twins", "create", "acme", "Maya", "--term", "x" * 61])
    assert bad.exit_code != 0
    assert bad.stderr.strip() == (
        "visavis: error: invalid twin (vocabulary.0): String should have at most 60 characters"
    )
    fact = runner.invoke(app, ["mind", "add-fact", "acme", twin, ""])
    assert fact.exit_code != 0 and fact.stderr.startswith("visavis: error: invalid fact (")
    assert "errors.pydantic.dev" not in fact.stderr, "the problem, not a link to the docs"
