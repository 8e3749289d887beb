"""``visavis tenants prefs|usage``, ``visavis flags``, ``visavis secrets``: the operator's tools."""

from __future__ import annotations

import getpass
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.api.schemas import PreferencesPublic, PreferencesUpdate
from visavis.api.tenancy_schemas import UsagePublic
from visavis.cli.errors import fail, load_settings, run_async
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.repositories.encrypted_columns import RotationCount, rotate_encrypted_columns
from visavis.db.repositories.flags import FlagRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.tenancy import crypto
from visavis.tenancy import flags as feature_flags
from visavis.tenancy.preferences import update_preferences
from visavis.tenancy.usage import usage_report

flags_app = typer.Typer(help="Feature flags: rollout, beta tenants, overrides, kill switch.")
secrets_app = typer.Typer(help="Secrets at rest: encryption keys and their rotation.")
flags_app.info.no_args_is_help = True
secrets_app.info.no_args_is_help = True

T = TypeVar("T")
_UNLIMITED = ("none", "unlimited", "null")


@asynccontextmanager
async def _session(url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    url = load_settings().database_url

    async def go() -> T:
        async with _session(url) as session:
            return await work(session)

    return run_async(go())


def _limit(name: str, value: str | None, number: type[int] | type[float]) -> Any:
    if value is None or value.lower() in _UNLIMITED:
        return None
    try:
        return number(value)
    except ValueError:
        fail(f"--{name.replace('_', '-')} takes a number, or 'none' for no limit")


def _actor(actor: str | None) -> str:
    if actor:
        return f"cli:{actor}"
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@flags_app.command("show")
def show_flags(
    name: str | None = typer.Argument(None, help="One flag (default: every flag)."),
) -> None:
    """Show each flag's global switch, rollout, kill switch, and tenants on/off/beta."""

    async def work(session: AsyncSession) -> list[tuple[Any, ...]]:
        names = [feature_flags.require_known(name)] if name else sorted(feature_flags.KNOWN_FLAGS)
        snapshot = await feature_flags.load_snapshot(session)
        tenants = {t.id: t.name for t in await TenantRepository(session).list()}
        rows = []
        for flag_name in names:
            flag = snapshot.settings(flag_name)
            states = await FlagRepository(session).tenant_states(flag_name)
            listed = ", ".join(f"{tenants.get(s.tenant_id, s.tenant_id)}={s.state}" for s in states)
            when = flag.updated_at.isoformat() if flag.updated_at else ""
            rows.append(
                (
                    flag_name,
                    "on" if flag.enabled else "off",
                    f"{flag.rollout_percent}%",
                    "ON" if flag.kill_switch else "off",
                    listed or "-",
                    f"{flag.updated_by or '-'} {when}".strip(),
                )
            )
        return rows

    table = Table("flag", "enabled", "rollout", "kill switch", "tenants", "last change")
    for row in _run(work):
        table.add_row(*row)
    Console().print(table)


@flags_app.command("set")
def set_flag(
    name: str,
    enabled: bool | None = typer.Option(None, "--enabled/--disabled", help="Global switch."),
    rollout_percent: int | None = typer.Option(None, min=0, max=100, help="0-100."),
    kill_switch: bool | None = typer.Option(
        None, "--kill-switch/--no-kill-switch", help="Off for every new conversation at once."
    ),
    actor: str | None = typer.Option(None, help="Who makes the change (default: your user)."),
) -> None:
    """Change a flag's global settings; every instance follows within the flags cache TTL."""
    if enabled is None and rollout_percent is None and kill_switch is None:
        fail("nothing to change: give --enabled/--disabled, --rollout-percent or --kill-switch")

    async def work(session: AsyncSession) -> feature_flags.FlagSettings:
        flag = await feature_flags.update_flag(
            session,
            name,
            actor=_actor(actor),
            enabled=enabled,
            rollout_percent=rollout_percent,
            kill_switch=kill_switch,
        )
        await session.commit()
        return flag

    flag = _run(work)
    typer.echo(
        f"{flag.name}: enabled={flag.enabled} rollout={flag.rollout_percent}% "
        f"kill_switch={flag.kill_switch}"
    )


@flags_app.command("tenant")
def set_flag_tenant(
    name: str,
    tenant: str,
    state: str = typer.Argument(..., help="on | off (overrides), beta, or clear"),
    actor: str | None = typer.Option(None, help="Who makes the change (default: your user)."),
) -> None:
    """Put TENANT on or off for a flag (override), in its beta, or clear that."""
    if state not in (*feature_flags.TENANT_STATES, "clear"):
        fail("the state is one of: on, off, beta, clear")

    async def work(session: AsyncSession) -> None:
        row = await TenantRepository(session).get_by_name(tenant)
        await feature_flags.set_tenant_state(
            session, name, row.id, None if state == "clear" else state, actor=_actor(actor)
        )
        await session.commit()

    _run(work)
    typer.echo(f"{name}: {tenant} {'cleared' if state == 'clear' else state}")


@flags_app.command("changes")
def flag_changes(name: str, limit: int = typer.Option(20, min=1, max=500)) -> None:
    """Who changed a flag, what, and when (newest first), one change a line."""

    async def work(session: AsyncSession) -> list[str]:
        feature_flags.require_known(name)
        tenants = {t.id: t.name for t in await TenantRepository(session).list()}
        lines = []
        for row in await FlagRepository(session).changes(name, limit=limit):
            whose = (
                ""
                if row.tenant_id is None
                else f" tenant={tenants.get(row.tenant_id, row.tenant_id)}"
            )
            lines.append(
                f"{row.changed_at.isoformat()} {row.actor}{whose} {json.dumps(row.change)}"
            )
        return lines

    for line in _run(work):
        typer.echo(line)


def tenant_prefs(
    name: str,
    avatar_enabled_default: bool | None = typer.Option(
        None, "--avatar-enabled-default/--no-avatar-enabled-default"
    ),
    default_avatar_id: str | None = typer.Option(None),
    default_provider: str | None = typer.Option(
        None, help="local | liveavatar | akool | simli | tavus (heygen means liveavatar)"
    ),
    monthly_avatar_session_limit: str | None = typer.Option(None, help="A number, or 'none'."),
    monthly_avatar_seconds_limit: str | None = typer.Option(None, help="A number, or 'none'."),
    monthly_cost_limit_usd: str | None = typer.Option(None, help="Dollars, or 'none'."),
) -> None:
    """Show a tenant's preferences and monthly limits, or change the ones given."""
    given: dict[str, Any] = {
        key: value
        for key, value in (
            ("avatar_enabled_default", avatar_enabled_default),
            ("default_avatar_id", default_avatar_id),
            ("default_provider", default_provider),
        )
        if value is not None
    }
    for key, raw, number in (
        ("monthly_avatar_session_limit", monthly_avatar_session_limit, int),
        ("monthly_avatar_seconds_limit", monthly_avatar_seconds_limit, int),
        ("monthly_cost_limit_usd", monthly_cost_limit_usd, float),
    ):
        if raw is not None:
            given[key] = _limit(key, raw, number)
    try:
        changes = PreferencesUpdate.model_validate(given).model_dump(exclude_unset=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"--{'-'.join(str(p) for p in first['loc']).replace('_', '-')}: {first['msg']}")

    async def work(session: AsyncSession) -> PreferencesPublic:
        row = await TenantRepository(session).get_by_name(name)
        if changes:
            prefs = await update_preferences(session, row.id, changes)
        else:
            prefs = await TenantRepository(session).preferences(row.id)
        await session.commit()
        return PreferencesPublic.of(prefs)

    prefs = _run(work)
    for key, value in prefs.model_dump().items():
        typer.echo(f"{key}: {'unlimited' if value is None and 'limit' in key else value}")


def tenant_usage(
    name: str,
    months: int = typer.Option(12, min=0, max=120, help="How many past months."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A tenant's avatar usage this UTC month against its limits, and earlier months."""

    async def work(session: AsyncSession) -> UsagePublic:
        row = await TenantRepository(session).get_by_name(name)
        report = await usage_report(session, row.id, months=months)
        await session.commit()
        return UsagePublic.of(report)

    usage = _run(work)
    if as_json:
        typer.echo(usage.model_dump_json(indent=2))
        return
    limits = usage.limits
    table = Table("month", "sessions", "seconds", "cost (USD)", "running")
    for month in [usage.current, *usage.history]:
        table.add_row(
            month.period,
            str(month.avatar_sessions),
            str(month.avatar_seconds),
            f"{month.cost_usd:.2f}",
            str(month.in_flight_sessions),
        )
    Console().print(table)
    typer.echo(
        f"limits: sessions {limits.monthly_avatar_session_limit or 'unlimited'}, "
        f"seconds {limits.monthly_avatar_seconds_limit or 'unlimited'}, "
        f"cost {limits.monthly_cost_limit_usd or 'unlimited'} USD; "
        f"resets at {usage.current.resets_at.isoformat()}"
    )


@secrets_app.command("rotate")
def rotate_secrets() -> None:
    """Re-encrypt every stored secret under the newest of VISAVIS_ENCRYPTION_KEYS."""
    settings = load_settings()
    keys = settings.encryption_keys.get_secret_value() if settings.encryption_keys else None

    async def work(session: AsyncSession) -> RotationCount:
        box = crypto.SecretBox.from_config(
            encryption_keys=keys, secret_key=settings.secret_key.get_secret_value()
        )
        count = await rotate_encrypted_columns(session, box)
        await session.commit()
        return count

    count = _run(work)
    typer.echo(f"re-encrypted {count.rotated} secrets; {count.already_current} already current")


@secrets_app.command("generate-key")
def generate_secret_key() -> None:
    """Print a new encryption key: put it first in VISAVIS_ENCRYPTION_KEYS, then rotate."""
    typer.echo(crypto.generate_key())
