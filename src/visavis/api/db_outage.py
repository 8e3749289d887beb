"""While the database cannot be reached, REST answers 503 with ``Retry-After``, not 500.

What counts as an outage is ``visavis.db.outage``'s call; anything else a driver raises stays
an internal error (logged, 500).
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from sqlalchemy import exc as sa_exc

from visavis.api.problems import ProblemResponse, problem
from visavis.db.outage import is_database_outage

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
_HANDLED: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError,
    asyncpg.exceptions.PostgresError,
    asyncpg.exceptions.InterfaceError,
    OSError,  # ConnectionError, TimeoutError and socket errors of a driver's connect
)


def database_unavailable() -> ProblemResponse:
    """The 503 every REST route answers during an outage."""
    return problem(
        503,
        f"the database is unreachable right now: retry in {RETRY_AFTER_S} s",
        code="database_unavailable",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install(app: FastAPI) -> None:
    """Register the handler (after ``problems.install``: it is more specific than theirs)."""

    async def _handle(_request: Request, error: Exception) -> ProblemResponse:
        if is_database_outage(error):
            logger.warning("database unreachable: %s: %s", type(error).__name__, error)
            return database_unavailable()
        logger.exception("unhandled error", exc_info=error)
        return problem(500, "an unexpected error occurred; it has been logged", code="internal")

    for error_type in _HANDLED:
        app.add_exception_handler(error_type, _handle)
