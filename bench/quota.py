"""Quota admissions per second on PostgreSQL, and proof of zero over-admission. Prints JSON.

Each attempt is what a conversation start does for its avatar: one tenant-scoped transaction
(row-level security role and tenant set), the admission (one conditional UPDATE that also
records the reservation; the month's row inserted if missing), commit. Attempts outnumber the
limits, so each run also checks that exactly the limit was admitted — by the clients'
answers, by the counters and by the reservation rows. Two paths:

- ``application``: ``quotas.reserve`` in SQLAlchemy sessions, as the server runs it, from 1
  and 2 client processes (two processes = two instances sharing the database);
- ``database``: the same admission statement (compiled from the repository's) in the same
  tenant-scoped transaction, on bare asyncpg connections: what PostgreSQL itself sustains.

    .venv/bin/python bench/quota.py [--url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from visavis.db.engine import create_engine, create_session_factory
from visavis.db.ids import uuid7
from visavis.db.migrate import upgrade
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.repositories.usage import ADMIT_AND_RECORD
from visavis.db.tenant_scope import TENANT_ROLE, install_tenant_scoping, scope_to_tenant
from visavis.tenancy import quotas

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- one client process ------------------------------------------------------------------


async def _attempt(
    sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, limit: int
) -> bool:
    async with sessions() as session:
        await scope_to_tenant(session, tenant)
        try:
            await quotas.reserve(
                session,
                tenant_id=tenant,
                limits=quotas.QuotaLimits(sessions=limit),
                estimated_seconds=300,
                estimated_cost_microusd=100_000,
            )
        except quotas.QuotaExceeded:
            await session.rollback()
            return False
        await session.commit()
        return True


async def client(job: dict[str, Any]) -> dict[str, Any]:
    """The application path: this process's share of the attempts, from ``start_at`` on."""
    engine = create_engine(job["url"], pool_size=job["workers"], max_overflow=0)
    sessions = create_session_factory(engine)
    install_tenant_scoping(sessions)
    tenants = [uuid.UUID(t) for t in job["tenants"]]
    plan = [tenants[n % len(tenants)] for n in range(job["offset"], job["offset"] + job["count"])]
    admitted = refused = 0
    latencies: list[float] = []
    async with sessions() as warm:  # connect before the clock starts
        await warm.execute(text("SELECT 1"))

    async def worker() -> None:
        nonlocal admitted, refused
        while plan:
            tenant = plan.pop()
            started = time.perf_counter()
            if await _attempt(sessions, tenant, job["limit"]):
                admitted += 1
            else:
                refused += 1
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.sleep(max(0.0, job["start_at"] - time.time()))
    started = time.time()
    await asyncio.gather(*(worker() for _ in range(job["workers"])))
    finished = time.time()
    await engine.dispose()
    return {
        "admitted": admitted,
        "refused": refused,
        "started": started,
        "finished": finished,
        "latencies_ms": latencies,
    }


async def database_client(job: dict[str, Any]) -> dict[str, Any]:
    """The admission statement itself, on bare connections, in tenant-scoped transactions."""
    compiled = ADMIT_AND_RECORD.compile(dialect=asyncpg_dialect.dialect())
    order = compiled.positiontup or []
    pool = await asyncpg.create_pool(
        _dsn(job["url"]), min_size=job["workers"], max_size=job["workers"]
    )
    tenants = [uuid.UUID(t) for t in job["tenants"]]
    plan = [tenants[n % len(tenants)] for n in range(job["offset"], job["offset"] + job["count"])]
    period = quotas.period_of(datetime.now(UTC))
    admitted = refused = 0
    latencies: list[float] = []

    async def admit(connection: asyncpg.Connection, tenant: uuid.UUID) -> bool:
        params = {
            "tenant": tenant,
            "period": period,
            "seconds": 300,
            "cost": 100_000,
            "session_limit": job["limit"],
            "seconds_limit": None,
            "cost_limit": None,
            "now": datetime.now(UTC),
            "id": uuid7(),
        }
        for _ in range(2):
            async with connection.transaction():
                await connection.execute(
                    "SELECT set_config('app.tenant_id', $1, true), set_config('role', $2, true)",
                    str(tenant),
                    TENANT_ROLE,
                )
                if await connection.fetchrow(compiled.string, *(params[k] for k in order)):
                    return True
                created = await connection.execute(
                    "INSERT INTO usage_months VALUES ($1, $2, 0, 0, 0, 0, 0, 0, now()) "
                    "ON CONFLICT DO NOTHING",
                    tenant,
                    period,
                )
            if created == "INSERT 0 0":
                return False  # the month exists: the limit refused it
        return False

    async def worker() -> None:
        nonlocal admitted, refused
        async with pool.acquire() as connection:
            while plan:
                tenant = plan.pop()
                started = time.perf_counter()
                if await admit(connection, tenant):
                    admitted += 1
                else:
                    refused += 1
                latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.sleep(max(0.0, job["start_at"] - time.time()))
    started = time.time()
    await asyncio.gather(*(worker() for _ in range(job["workers"])))
    finished = time.time()
    await pool.close()
    return {
        "admitted": admitted,
        "refused": refused,
        "started": started,
        "finished": finished,
        "latencies_ms": latencies,
    }


# --- the coordinator ---------------------------------------------------------------------


async def _make_tenants(engine: AsyncEngine, prefix: str, count: int) -> list[str]:
    async with create_session_factory(engine)() as session:
        ids = [
            str((await TenantRepository(session).create(name=f"{prefix}-{n}")).id)
            for n in range(count)
        ]
        await session.commit()
    return ids


async def _verify(engine: AsyncEngine, tenants: list[str], limit: int) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT u.avatar_sessions, (SELECT count(*) FROM quota_reservations r "
                    "WHERE r.tenant_id = u.tenant_id) FROM usage_months u "
                    "WHERE u.tenant_id = ANY(:ids)"
                ),
                {"ids": [uuid.UUID(t) for t in tenants]},
            )
        ).all()
    return {
        "counted_sessions": sum(r[0] for r in rows),
        "reservation_rows": sum(r[1] for r in rows),
        "tenants_over_limit": sum(1 for r in rows if r[0] > limit or r[1] > limit),
    }


def _run_clients(job: dict[str, Any], processes: int) -> list[dict[str, Any]]:
    share = job["attempts"] // processes
    children = []
    for n in range(processes):
        child_job = job | {"offset": n * share, "count": share, "workers": job["workers"]}
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, f"--{job['path']}-client", json.dumps(child_job)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode != 0:
            raise SystemExit(f"a client process failed (exit {child.returncode})")
        results.append(json.loads(out))
    return results


async def _scenario(
    engine: AsyncEngine,
    url: str,
    *,
    path: str,
    name: str,
    tenants: int,
    attempts: int,
    processes: int,
    workers: int,
) -> dict[str, Any]:
    ids = await _make_tenants(engine, f"{name}-{processes}p-{secrets.token_hex(3)}", tenants)
    limit = max(1, attempts * 5 // 6 // tenants)
    job = {
        "path": path,
        "url": url,
        "tenants": ids,
        "limit": limit,
        "attempts": attempts,
        "workers": workers,
        "start_at": time.time() + 4,
    }
    results = await asyncio.to_thread(_run_clients, job, processes)
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    admitted = sum(r["admitted"] for r in results)
    done = sum(r["admitted"] + r["refused"] for r in results)
    latencies = sorted(v for r in results for v in r["latencies_ms"])
    expected = min(done, tenants * limit)
    checked = await _verify(engine, ids, limit)
    return {
        "path": path,
        "scenario": name,
        "client_processes": processes,
        "workers_per_process": workers,
        "tenants": tenants,
        "limit_per_tenant": limit,
        "attempts": done,
        "admitted": admitted,
        "expected_admitted": expected,
        **checked,
        "over_admitted": max(0, admitted - expected)
        + max(0, checked["counted_sessions"] - expected)
        + max(0, checked["reservation_rows"] - expected),
        "seconds": round(elapsed, 3),
        "attempts_per_s": round(done / elapsed),
        "admissions_per_s": round(admitted / elapsed),
        "latency_ms_p50": round(statistics.median(latencies), 2),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 2),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    name = f"visavis_bench_{int(time.time())}_{secrets.token_hex(3)}"
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(_dsn(args.url), timeout=10)
    await admin.execute(f'CREATE DATABASE "{name}"')
    results = []
    try:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            runs = [("database", 1)] + [("application", p) for p in args.processes]
            for path, processes in runs:
                for scenario, tenants in (("many_tenants", args.tenants), ("one_hot_tenant", 1)):
                    results.append(
                        await _scenario(
                            engine,
                            url,
                            path=path,
                            name=scenario,
                            tenants=tenants,
                            attempts=args.attempts,
                            processes=processes,
                            workers=args.workers,
                        )
                    )
        finally:
            await engine.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "benchmark": "quota_admission",
        "database": "postgresql",
        "attempt": "tenant-scoped transaction (RLS role + app.tenant_id), admission, commit",
        "cpu_count": os.cpu_count(),
        "results": results,
        "zero_over_admission": all(
            r["over_admitted"] == 0
            and r["tenants_over_limit"] == 0
            and r["admitted"] == r["expected_admitted"] == r["counted_sessions"]
            for r in results
        ),
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--application-client", "--database-client"):
        run = client if sys.argv[1] == "--application-client" else database_client
        print(json.dumps(asyncio.run(run(json.loads(sys.argv[2])))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--url",
        default=os.environ.get("VISAVIS_TEST_POSTGRES_URL", DEFAULT_URL),
        help="a PostgreSQL server (a scratch database is created there, then dropped)",
    )
    parser.add_argument("--attempts", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=16, help="concurrent starts per process")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument(
        "--processes",
        type=lambda v: [int(p) for p in v.split(",")],
        default=[1, 2],
        help="client processes (instances), comma-separated runs",
    )
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
