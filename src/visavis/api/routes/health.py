"""``/healthz`` (the process is up) and ``/readyz`` (database reachable, schema at head)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from visavis.api.deps import ContextDep
from visavis.api.problems import HTTPProblem
from visavis.db.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(ctx: ContextDep) -> dict[str, Any]:
    try:
        async with ctx.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            current = await current_revision(connection)
    except Exception as exc:  # any driver error means "not ready", with its reason
        raise HTTPProblem(
            503, f"database unreachable: {type(exc).__name__}", code="database_unreachable"
        ) from exc
    head = head_revision()
    if current != head:
        raise HTTPProblem(
            503,
            f"database schema at {current or 'nothing'}, code expects {head}: "
            "run 'visavis db upgrade'",
            code="migrations_pending",
        )
    return {"status": "ready", "database": ctx.engine.dialect.name, "revision": current}
