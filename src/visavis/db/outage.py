"""Whether a database error is an outage to wait out, or a real error.

A refused or dropped connection, a pool that cannot hand one out in time, or a server that is
starting or shutting down is an outage: REST answers 503, a live conversation keeps its records
and writes them when the database is back. Anything else a driver raises is a real error.
"""

from __future__ import annotations

import traceback

import asyncpg
from sqlalchemy import exc as sa_exc

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
