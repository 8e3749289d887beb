"""The test kit's virtual-time loop: sleeps end at once, real work still gets its real time."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from visavis.testing.virtual_time import run_virtual


def test_sleeps_take_virtual_time_only() -> None:
    async def scenario() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        started, real = loop.time(), time.perf_counter()
        await asyncio.sleep(3600)
        return loop.time() - started, time.perf_counter() - real

    virtual, real = run_virtual(scenario())
    assert virtual >= 3600
    assert real < 5


def test_a_slow_answer_on_a_socket_does_not_run_into_a_long_timeout() -> None:
    # A database answering in 60 ms on a busy machine: the query's 30 s timeout is the only
    # timer, and the loop must not jump to it while the answer is on its way.
    async def scenario() -> bytes:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)

        def answer() -> None:
            time.sleep(0.06)
            theirs.sendall(b"committed")

        threading.Thread(target=answer, daemon=True).start()
        try:
            return await asyncio.wait_for(loop.sock_recv(ours, 64), timeout=30)
        finally:
            ours.close()
            theirs.close()

    assert run_virtual(scenario()) == b"committed"


def test_a_socket_that_never_answers_still_times_out() -> None:
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        started = loop.time()
        try:
            await asyncio.wait_for(loop.sock_recv(ours, 64), timeout=30)
        except TimeoutError:
            return loop.time() - started
        finally:
            ours.close()
            theirs.close()
        raise AssertionError("the silent socket answered")

    assert run_virtual(scenario()) >= 30
