"""The deadline scheduler: never more than its slots at once, the most urgent job first."""

from __future__ import annotations

import asyncio

import pytest

from visavis.speech.scheduling import DeadlineScheduler
from visavis.testing import run_virtual


async def test_waiting_jobs_run_earliest_deadline_first() -> None:
    scheduler = DeadlineScheduler(slots=1)
    now = asyncio.get_running_loop().time()
    order: list[str] = []

    async def job(name: str, deadline: float) -> None:
        async with scheduler.slot(deadline):
            order.append(name)
            await asyncio.sleep(0.01)

    first = asyncio.create_task(job("first", now))
    await asyncio.sleep(0)  # it holds the only slot
    later = [
        asyncio.create_task(job(name, now + offset))
        for name, offset in [("relaxed", 9.0), ("urgent", 0.5), ("soon", 2.0)]
    ]
    await asyncio.sleep(0)
    assert scheduler.waiting == 3 and scheduler.busy == 1
    await asyncio.gather(first, *later)
    assert order == ["first", "urgent", "soon", "relaxed"]
    assert scheduler.busy == 0


async def test_slots_bound_the_work() -> None:
    scheduler = DeadlineScheduler(slots=2)
    now = asyncio.get_running_loop().time()
    running = 0
    most = 0

    async def job() -> None:
        nonlocal running, most
        async with scheduler.slot(now):
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.005)
            running -= 1

    await asyncio.gather(*(job() for _ in range(7)))
    assert most == 2


async def test_cancelled_waiters_give_way() -> None:
    scheduler = DeadlineScheduler(slots=2)
    deadline = asyncio.get_running_loop().time()
    holders = [scheduler.slot(deadline) for _ in range(2)]
    for holder in holders:
        await holder.__aenter__()

    async def wait_for_slot() -> None:
        async with scheduler.slot(deadline):
            pass

    waiter = asyncio.create_task(wait_for_slot())
    await asyncio.sleep(0.02)
    assert not waiter.done() and scheduler.waiting == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert scheduler.waiting == 0
    await holders[0].__aexit__(None, None, None)
    # The cancelled waiter did not take the freed slot: a new job gets it at once.
    async with asyncio.timeout(1):
        async with scheduler.slot(deadline):
            assert scheduler.busy == 2
    await holders[1].__aexit__(None, None, None)
    assert scheduler.busy == 0


async def test_a_slot_granted_while_cancelled_is_passed_on() -> None:
    scheduler = DeadlineScheduler(slots=1)
    deadline = asyncio.get_running_loop().time()
    holder = scheduler.slot(deadline)
    await holder.__aenter__()
    entered = asyncio.Event()

    async def wait_for_slot() -> None:
        async with scheduler.slot(deadline):
            entered.set()

    waiter = asyncio.create_task(wait_for_slot())
    await asyncio.sleep(0.01)
    await holder.__aexit__(None, None, None)  # grants the waiter's future …
    waiter.cancel()  # … which is cancelled before it runs
    await asyncio.gather(waiter, return_exceptions=True)
    assert not entered.is_set()
    async with asyncio.timeout(1):
        async with scheduler.slot(deadline):
            assert scheduler.busy == 1


def test_at_least_one_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        DeadlineScheduler(slots=0)


def test_work_that_can_wait_leaves_a_slot_for_urgent_work() -> None:
    """Partials ask for a spare slot: a final arriving while they decode starts at once."""

    async def scenario() -> None:
        scheduler = DeadlineScheduler(slots=2)
        now = asyncio.get_running_loop().time()
        started: dict[str, float] = {}

        async def job(name: str, deadline: float, seconds: float, spare: int) -> None:
            async with scheduler.slot(deadline, spare=spare):
                started[name] = asyncio.get_running_loop().time() - now
                await asyncio.sleep(seconds)

        partials = [asyncio.create_task(job(f"p{i}", now + 0.5, 0.3, 1)) for i in range(3)]
        await asyncio.sleep(0.05)
        assert scheduler.busy == 1 and scheduler.waiting == 2  # one partial at a time
        final = asyncio.create_task(job("final", now, 0.1, 0))
        await asyncio.gather(final, *partials)
        assert started["final"] == pytest.approx(0.05)  # it waited for no partial
        assert [started[f"p{i}"] for i in range(3)] == pytest.approx([0.0, 0.3, 0.6])

    run_virtual(scenario())


async def test_spare_slots_never_exceed_what_exists() -> None:
    scheduler = DeadlineScheduler(slots=1)
    async with scheduler.slot(asyncio.get_running_loop().time(), spare=3):
        assert scheduler.busy == 1
