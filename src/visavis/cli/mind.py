"""``visavis mind``: a twin's facts and stories — import (with progress), export, search."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from visavis.cli.errors import fail, fail_invalid, load_settings, run_async
from visavis.cli.twin_support import parse_twin_id, tenant_scope
from visavis.config import Settings
from visavis.db.repositories.memory import MemoryQueryRepository, MemoryRepository
from visavis.db.repositories.twins import TwinRepository
from visavis.mind.importing import ImportFormat, parse
from visavis.mind.schemas import FactIn
from visavis.mind.service import WriteResult

mind_app = typer.Typer(help="A twin's memory: facts, stories, questions.", no_args_is_help=True)

_SUFFIXES: dict[str, ImportFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".md": "markdown",
    ".markdown": "markdown",
}


def _read(path: Path, fmt: ImportFormat | None) -> tuple[str, ImportFormat]:
    chosen = fmt or _SUFFIXES.get(path.suffix.lower())
    if chosen is None:
        fail(f"cannot tell the format of {path.name}: add --format jsonl or --format markdown")
    try:
        return path.read_bytes().decode("utf-8-sig"), chosen
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        fail(f"{path.name} is not UTF-8 text (byte {exc.start} is invalid)")


async def _import(
    settings: Settings, tenant: str, twin_id: str, text: str, fmt: ImportFormat
) -> WriteResult:
    items = parse(text, fmt)  # every broken line is reported before anything is opened
    twin = parse_twin_id(twin_id)
    with Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True)
    ) as progress:
        task = progress.add_task("import", total=len(items))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=max(total, 1))

        async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
            result = await scope.mind.write(session, scope.tenant_id, twin, items, progress=advance)
            await session.commit()
            return result


@mind_app.command("import")
def import_file(
    tenant: str,
    twin_id: str,
    file: Path,
    fmt: str | None = typer.Option(None, "--format", help="jsonl or markdown (default: by name)"),
) -> None:
    """Import FILE (JSONL facts/stories, or Markdown with one story per heading).

    Any broken line refuses the whole file: nothing is written.
    """
    if fmt not in (None, "jsonl", "markdown"):
        fail("--format is jsonl or markdown")
    text, chosen = _read(file, fmt)  # type: ignore[arg-type]
    result = run_async(_import(load_settings(), tenant, twin_id, text, chosen))
    facts = sum(1 for r in result.created if r.kind == "fact")
    typer.echo(
        f"imported {facts} facts and {len(result.created) - facts} stories "
        f"({result.duplicates} already known, {result.superseded} facts replaced)"
    )


async def _export(settings: Settings, tenant: str, twin_id: str) -> list[str]:
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        return [
            line
            async for line in scope.mind.export(session, scope.tenant_id, parse_twin_id(twin_id))
        ]


@mind_app.command("export")
def export(
    tenant: str,
    twin_id: str,
    output: Path | None = typer.Option(None, "-o", "--output", help="File (default: stdout)."),
) -> None:
    """Write every fact and story as JSONL (importable again)."""
    lines = run_async(_export(load_settings(), tenant, twin_id))
    if output is None:
        sys.stdout.write("".join(lines))
        return
    output.write_text("".join(lines), encoding="utf-8")
    typer.echo(f"exported {len(lines)} items to {output}", err=True)


async def _add_fact(settings: Settings, tenant: str, twin_id: str, fact: FactIn) -> WriteResult:
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        result = await scope.mind.write(
            session, scope.tenant_id, parse_twin_id(twin_id), [fact], restate_past=True
        )
        await session.commit()
        return result


@mind_app.command("add-fact")
def add_fact(
    tenant: str,
    twin_id: str,
    statement: str,
    subject: str | None = typer.Option(None, help="A newer fact on this subject replaces older."),
) -> None:
    """Add one fact in the first person, e.g. "I live in Lisbon"."""
    try:
        fact = FactIn(statement=statement, subject=subject, source="cli")
    except ValueError as exc:
        fail_invalid("fact", exc)
    result = run_async(_add_fact(load_settings(), tenant, twin_id, fact))
    if not result.created:
        fail("the twin already knows this fact")
    typer.echo(str(result.created[0].id))
    if result.superseded:
        typer.echo(f"replaced {result.superseded} older fact(s) on {subject!r}", err=True)


Kind = Literal["fact", "story"]


async def _items(settings: Settings, tenant: str, twin_id: str, kind: Kind) -> list[list[str]]:
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        twin = parse_twin_id(twin_id)
        await TwinRepository(session, scope.tenant_id).get(twin)
        rows = await MemoryRepository(session, scope.tenant_id).list(twin, kind=kind)
        return [
            [
                str(r.id),
                r.title or r.subject or "",
                r.text if len(r.text) < 90 else r.text[:87] + "...",
                "yes" if r.valid_until is None else f"until {r.valid_until:%Y-%m-%d}",
            ]
            for r in rows
        ]


@mind_app.command("facts")
def facts(tenant: str, twin_id: str) -> None:
    """List a twin's facts (replaced ones say until when they were valid)."""
    table = Table("id", "subject", "statement", "valid")
    for row in run_async(_items(load_settings(), tenant, twin_id, "fact")):
        table.add_row(*row)
    Console().print(table)


@mind_app.command("stories")
def stories(tenant: str, twin_id: str) -> None:
    """List a twin's stories."""
    table = Table("id", "title", "text")
    for row in run_async(_items(load_settings(), tenant, twin_id, "story")):
        table.add_row(*row[:3])
    Console().print(table)


async def _search(settings: Settings, tenant: str, twin_id: str, question: str) -> list[list[str]]:
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        hits = await scope.mind.search(session, scope.tenant_id, parse_twin_id(twin_id), question)
        return [
            [h.item.kind, h.item.title or h.item.text[:70], f"{h.score:.4f}", f"{h.confidence:.2f}"]
            for h in hits
        ]


@mind_app.command("search")
def search(tenant: str, twin_id: str, question: str) -> None:
    """Retrieve as the twin does (hybrid), with each item's score and confidence."""
    table = Table("kind", "item", "score", "confidence")
    for row in run_async(_search(load_settings(), tenant, twin_id, question)):
        table.add_row(*row)
    Console().print(table)


async def _queries(settings: Settings, tenant: str, twin_id: str) -> list[list[str]]:
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        twin = parse_twin_id(twin_id)
        await TwinRepository(session, scope.tenant_id).get(twin)
        rows = await MemoryQueryRepository(session, scope.tenant_id).list(twin)
        return [
            [f"{r.created_at:%Y-%m-%d %H:%M}", r.question, r.answer[:80], str(len(r.used))]
            for r in rows
        ]


@mind_app.command("queries")
def queries(tenant: str, twin_id: str) -> None:
    """The latest questions asked to a twin, with its answers."""
    table = Table("when", "question", "answer", "items used")
    for row in run_async(_queries(load_settings(), tenant, twin_id)):
        table.add_row(*row)
    Console().print(table)
