"""A task cancelled in the middle of its database work: no broken connection, no half commit."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random

import pytest
from sqlalchemy import text

from visavis.db.engine import create_engine, create_session_factory
from visavis.db.session import run_to_completion


async def test_cancelled_writers_leave_whole_commits_and_a_clean_pool(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    # A table of the test's own, dropped at the end: the migrated schema must stay the models'.
    async with sessions() as db:
        await db.execute(text("DROP TABLE IF EXISTS cancel_probe"))
        await db.execute(
            text("CREATE TABLE cancel_probe (writer INTEGER, round INTEGER, part INTEGER)")
        )
        await db.commit()

    async def write_pairs(writer: int) -> None:
        for round_ in itertools.count():
            async with sessions() as db:
                for part in (0, 1):
                    await db.execute(
                        text("INSERT INTO cancel_probe VALUES (:w, :r, :p)"),
                        {"w": writer, "r": round_, "p": part},
                    )
                await db.commit()

    # Cancels land anywhere: in a statement, in a commit, between them.
    rng = random.Random(20261206)
    try:
        for writer in range(150):
            task = asyncio.create_task(write_pairs(writer))
            await asyncio.sleep(rng.random() * 0.008)
            task.cancel()
            await asyncio.wait({task})
            assert task.cancelled()
        # Every connection back in the pool: none left for the garbage collector to reset.
        checked_out = engine.sync_engine.pool.checkedout()  # type: ignore[attr-defined]
        async with sessions() as db:
            parts = (
                await db.execute(
                    text(
                        "SELECT COUNT(*) FROM cancel_probe"
                        " GROUP BY writer, round HAVING COUNT(*) <> 2"
                    )
                )
            ).all()
            written = await db.scalar(text("SELECT COUNT(*) FROM cancel_probe"))
    finally:
        async with sessions() as db:
            await db.execute(text("DROP TABLE IF EXISTS cancel_probe"))
            await db.commit()
        await engine.dispose()
    assert checked_out == 0, "a cancelled session kept its connection"
    assert parts == [], "every commit holds both rows or neither"
    assert written and written > 0
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert problems == []


async def test_a_cancel_waits_for_the_work_then_is_delivered() -> None:
    finished = asyncio.Event()

    async def work() -> int:
        await asyncio.sleep(0.05)
        finished.set()
        return 1

    caller = asyncio.create_task(run_to_completion(work()))
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.wait({caller})
    assert finished.is_set(), "the work ran to its end"
    assert caller.cancelled(), "and the caller still stopped"


async def test_work_that_fails_after_a_cancel_still_cancels_its_caller() -> None:
    async def work() -> None:
        await asyncio.sleep(0.05)
        raise ValueError("the database said no")

    caller = asyncio.create_task(run_to_completion(work()))
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.wait({caller})
    assert caller.cancelled()
