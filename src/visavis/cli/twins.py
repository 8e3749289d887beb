"""``visavis twins``: create, list, show, delete and ask a tenant's digital twins."""

from __future__ import annotations

import os
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from visavis.agents.base import Message
from visavis.agents.twin import TwinAgent, TwinAgentOptions
from visavis.api.twin_schemas import LLMBody, PersonaBody, TwinCreate, TwinPublic
from visavis.cli.errors import fail, fail_invalid, load_settings, run_async
from visavis.cli.twin_support import parse_twin_id, tenant_scope
from visavis.config import Settings
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.repositories.twins import TwinRepository
from visavis.mind.demo_twin import ensure_demo_twin
from visavis.mind.twin_setup import load_twin_setup
from visavis.mind.twins import create_twin

twins_app = typer.Typer(help="Digital twins of a tenant.", no_args_is_help=True)


async def _create(settings: Settings, tenant: str, body: TwinCreate) -> str:
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        twin = await create_twin(session, scope.tenant_id, body, scope.box)
        await session.commit()
        return str(twin.id)


@twins_app.command("create")
def create(
    tenant: str,
    name: str,
    bio: str = typer.Option("", help="A short biography."),
    style: str = typer.Option("", help="How the person speaks, e.g. 'warm, brief'."),
    llm_url: str | None = typer.Option(None, help="OpenAI-compatible base URL (…/v1)."),
    llm_model: str | None = typer.Option(None, help="The model at that server."),
    llm_key_env: str | None = typer.Option(
        None, help="Name of the environment variable holding the LLM key (never the key)."
    ),
    terms: list[str] = typer.Option(
        [],
        "--term",
        help="A name or term its visitors are likely to say (repeat the option for more): "
        "speech recognition spells it as written.",
    ),
) -> None:
    """Create a twin of TENANT and print its id (offline unless an LLM is given)."""
    settings = load_settings()
    llm: dict[str, Any] | None = None
    if llm_url or llm_model:
        if not (llm_url and llm_model):
            fail("give both --llm-url and --llm-model, or neither for the offline twin")
        llm = {"base_url": llm_url, "model": llm_model}
        if llm_key_env:
            key = os.environ.get(llm_key_env)
            if not key:
                fail(f"the environment variable {llm_key_env} is empty or unset")
            llm["api_key"] = key
    try:
        body = TwinCreate(
            name=name,
            persona=PersonaBody(bio=bio, speaking_style=style),
            llm=LLMBody.model_validate(llm) if llm else None,
            vocabulary=terms,
        )
    except ValueError as exc:
        fail_invalid("twin", exc)
    typer.echo(run_async(_create(settings, tenant, body)))


async def _list(settings: Settings, tenant: str) -> list[TwinPublic]:
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        return [TwinPublic.of(t) for t in await TwinRepository(session, scope.tenant_id).list()]


@twins_app.command("list")
def list_twins(tenant: str) -> None:
    """List TENANT's twins."""
    table = Table("id", "name", "mode", "voice", "learning")
    for twin in run_async(_list(load_settings(), tenant)):
        table.add_row(str(twin.id), twin.name, twin.mode, twin.voice, str(twin.learning))
    Console().print(table)


async def _show(settings: Settings, tenant: str, twin_id: str) -> TwinPublic:
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        twin = await TwinRepository(session, scope.tenant_id).get(parse_twin_id(twin_id))
        return TwinPublic.of(twin)


@twins_app.command("show")
def show(tenant: str, twin_id: str) -> None:
    """Print one twin as JSON."""
    typer.echo(run_async(_show(load_settings(), tenant, twin_id)).model_dump_json(indent=2))


async def _delete(settings: Settings, tenant: str, twin_id: str) -> None:
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        await TwinRepository(session, scope.tenant_id).delete(parse_twin_id(twin_id))
        await session.commit()


@twins_app.command("delete")
def delete(tenant: str, twin_id: str) -> None:
    """Delete a twin with its whole memory and query history."""
    run_async(_delete(load_settings(), tenant, twin_id))
    typer.echo(f"deleted twin {twin_id}", err=True)


async def _ask(settings: Settings, tenant: str, twin_id: str, question: str) -> tuple[str, str]:
    async with tenant_scope(settings, tenant) as scope:
        setup = await load_twin_setup(
            scope.mind,
            scope.sessions,
            scope.box,
            tenant_id=scope.tenant_id,
            twin_id=parse_twin_id(twin_id),
            switch_role=False,
        )
        agent = TwinAgent(
            setup, options=TwinAgentOptions(threshold=settings.twin_confidence_threshold)
        )
        try:
            answer = "".join([d async for d in agent.stream([Message("user", question)])])
        finally:
            await agent.aclose()
        used = ", ".join(agent.last_turn.used) if agent.last_turn else ""
        return answer, used


@twins_app.command("ask")
def ask(tenant: str, twin_id: str, question: str) -> None:
    """Ask a twin one question; the memory items used go to stderr."""
    answer, used = run_async(_ask(load_settings(), tenant, twin_id, question))
    typer.echo(answer)
    typer.echo(f"used: {used or 'nothing (no memory matched)'}", err=True)


async def _demo(settings: Settings, tenant: str) -> tuple[str, bool]:
    from visavis.db.engine import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            repo = TenantRepository(session)
            if await repo.find_by_name(tenant) is None:
                await repo.create(name=tenant)
                await session.commit()
    finally:
        await engine.dispose()
    async with tenant_scope(settings, tenant) as scope, scope.sessions() as session:
        twin, created = await ensure_demo_twin(session, scope.tenant_id, scope.mind)
        await session.commit()
        return str(twin.id), created


async def seed_demo_for_serve(settings: Settings, tenant: str = "local") -> str | None:
    """At ``serve`` in development: the demo twin in the ``local`` tenant, if that tenant is
    (or is about to be) the built-in page's; ``None`` on a database with other tenants only.
    """
    from visavis.db.engine import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            repo = TenantRepository(session)
            if await repo.find_by_name(tenant) is None and await repo.count() > 0:
                return None
    finally:
        await engine.dispose()
    twin_id, _ = await _demo(settings, tenant)
    return twin_id


@twins_app.command("demo")
def demo(tenant: str = typer.Option("local", help="Tenant to hold the demo twin.")) -> None:
    """Seed the demo twin (Maya Okafor, an invented person) and print its id."""
    settings = load_settings()
    twin_id, created = run_async(_demo(settings, tenant))
    typer.echo(twin_id)
    state = "created" if created else "already there"
    typer.echo(
        f"demo twin {state}; talk to it at http://{settings.host}:{settings.port}/"
        f"?agent=twin&twin={twin_id} (tenant {tenant!r})",
        err=True,
    )
