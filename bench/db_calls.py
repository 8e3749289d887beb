"""What a cancel-safe database session costs per unit of work. Prints JSON.

One unit: open a session, run a statement, commit, close — the shape of most of the server's
writes. Timed with SQLAlchemy's plain ``AsyncSession`` and with ``CancelSafeSession`` (each
call in a task of its own, so a cancel waits for it), in alternating blocks (AB BA AB ...) so a
drift in the machine's load falls on both alike; the figure is the ratio of the medians of the
blocks. SQLite in a temporary file, and PostgreSQL when ``--postgres`` is reachable.

    python bench/db_calls.py [--units 500 --blocks 8 --postgres postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from visavis.db.engine import create_engine
from visavis.db.session import CancelSafeSession


async def _block(engine: AsyncEngine, session_class: type[AsyncSession], units: int) -> float:
    sessions = async_sessionmaker(engine, class_=session_class, expire_on_commit=False)
    started = time.perf_counter()
    for n in range(units):
        async with sessions() as db:
            await db.execute(text("INSERT INTO unit_probe VALUES (:n)"), {"n": n})
            await db.commit()
    return (time.perf_counter() - started) / units * 1e6


async def measure(url: str, units: int, blocks: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE IF EXISTS unit_probe"))
            await connection.execute(text("CREATE TABLE unit_probe (n INTEGER)"))
        plain: list[float] = []
        safe: list[float] = []
        for block in range(blocks):
            order = [(AsyncSession, plain), (CancelSafeSession, safe)]
            for session_class, times in order if block % 2 == 0 else order[::-1]:
                times.append(await _block(engine, session_class, units))
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE unit_probe"))
    finally:
        await engine.dispose()
    return {
        "us_per_unit_plain": round(statistics.median(plain)),
        "us_per_unit_cancel_safe": round(statistics.median(safe)),
        "ratio_cancel_safe_to_plain": round(statistics.median(safe) / statistics.median(plain), 3),
        "blocks": blocks,
        "units_per_block": units,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument(
        "--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test", help="'' skips"
    )
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite+aiosqlite:///{Path(folder) / 'units.db'}"
        report["sqlite"] = await measure(sqlite_url, args.units, args.blocks)
    if args.postgres:
        try:
            report["postgresql"] = await measure(args.postgres, args.units, args.blocks)
        except OSError as error:
            report["postgresql"] = {"skipped": f"unreachable: {error}"}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
