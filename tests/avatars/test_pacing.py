"""The byte pacer: never more than a destination's budget in any window."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visavis.avatars.pacing import ByteBudget, BytePacer, MessageTooLarge
from visavis.testing.clock import ManualClock

AGORA = ByteBudget(bytes_per_window=6000, max_message_bytes=1024)


def test_budget_leaves_room_for_the_burst() -> None:
    assert AGORA.burst == 1024
    assert AGORA.rate == 6000 - 1024
    with pytest.raises(ValueError, match="burst_bytes"):
        ByteBudget(bytes_per_window=1000, max_message_bytes=1000)
    with pytest.raises(ValueError, match="burst_bytes"):
        ByteBudget(bytes_per_window=6000, max_message_bytes=1024, burst_bytes=512)


async def test_message_over_the_limit_is_refused() -> None:
    pacer = BytePacer(AGORA, clock=ManualClock(auto_advance=True))
    with pytest.raises(MessageTooLarge, match="1025 bytes"):
        await pacer.acquire(1025)


async def emit(pacer: BytePacer, clock: ManualClock, plan: list[tuple[float, int]]) -> list[float]:
    """Acquire each size after its pause; return the times at which each was let through."""
    times: list[float] = []
    for pause, size in plan:
        await clock.sleep(pause)
        await pacer.acquire(size)
        times.append(clock.now())
    return times


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    per_window=st.integers(min_value=50, max_value=20_000),
    window_s=st.sampled_from([1.0, 0.5, 2.0]),
)
def test_no_window_ever_holds_more_than_the_budget(
    data: st.DataObject, per_window: int, window_s: float
) -> None:
    max_message = data.draw(st.integers(min_value=1, max_value=per_window - 1))
    burst = data.draw(st.integers(min_value=max_message, max_value=per_window - 1))
    budget = ByteBudget(
        bytes_per_window=per_window,
        max_message_bytes=max_message,
        window_s=window_s,
        burst_bytes=burst,
    )
    plan = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from([0.0, 0.0, 0.0, 0.001, 0.1, 0.5, window_s, 3.0]),
                st.integers(min_value=1, max_value=max_message),
            ),
            min_size=1,
            max_size=80,
        )
    )
    clock = ManualClock(start=1000.0, auto_advance=True)
    times = asyncio.run(emit(BytePacer(budget, clock=clock), clock, plan))
    sizes = [size for _, size in plan]
    for i, start in enumerate(times):
        in_window = sum(
            s for t, s in zip(times[i:], sizes[i:], strict=True) if t <= start + window_s
        )
        assert in_window <= per_window


async def test_steady_rate_matches_the_budget() -> None:
    clock = ManualClock(auto_advance=True)
    pacer = BytePacer(AGORA, clock=clock)
    for _ in range(60):
        await pacer.acquire(1000)
    # The burst goes at once, the rest at the refill rate.
    assert clock.now() == pytest.approx((60 * 1000 - 1024) / AGORA.rate, rel=1e-3)


async def test_waiters_are_served_in_order_and_a_cancelled_one_takes_nothing() -> None:
    clock = ManualClock()
    pacer = BytePacer(ByteBudget(bytes_per_window=200, max_message_bytes=100), clock=clock)
    await pacer.acquire(100)  # the bucket is now empty; refill is 100 bytes/s
    order: list[str] = []

    async def send(name: str, size: int) -> None:
        await pacer.acquire(size)
        order.append(name)

    first = asyncio.create_task(send("first", 100))
    await asyncio.sleep(0)
    second = asyncio.create_task(send("second", 10))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await clock.advance(0.1)  # 10 bytes refilled: enough for "second" only
    await asyncio.wait_for(second, 1)
    assert order == ["second"]


# --- completion detection -----------------------------------------------------------------
