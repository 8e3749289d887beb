"""While the database cannot be reached, REST answers 503 with ``Retry-After``, not 500.

A refused or dropped connection, a pool that cannot hand one out in time, or a server that is
starting or shutting down is an outage the client should wait out; anything else a driver
raises stays an internal error (logged, 500).
"""

from __future__ import annotations

import logging
import traceback

import asyncpg
from fastapi import FastAPI, Request
from sqlalchemy import exc as sa_exc

from visavis.api.problems import ProblemResponse, problem

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
_DRIVER_MODULES = ("asyncpg", "aiosqlite", "sqlalchemy", "sqlite3")
_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # the pool had no connection to give in time
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
)
_HANDLED: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError,
    asyncpg.exceptions.PostgresError,
    asyncpg.exceptions.InterfaceError,
    OSError,  # ConnectionError, TimeoutError and socket errors of a driver's connect
)


def _raised_by_driver(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return any(f"/{name}/" in frame.filename for frame in frames for name in _DRIVER_MODULES)


def is_database_outage(error: BaseException) -> bool:
    """Whether ``error`` (or its cause) means the database cannot be reached right now."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGE_ERRORS):
            return True
        if isinstance(current, TimeoutError | OSError) and _raised_by_driver(current):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


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
