"""Fixtures of the avatar provider tests: the provider fakes on loopback.

Each fake serves for the whole session and is reset (sessions, requests, knobs,
clock) before every test that uses it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from tests.fakes.akool import AkoolServer, serve_akool
from tests.fakes.liveavatar import LiveAvatarServer, serve_liveavatar
from tests.fakes.simli import SimliServer, serve_simli
from tests.fakes.tavus import TavusServer, serve_tavus


@pytest.fixture(scope="session")
def _liveavatar_server() -> Iterator[LiveAvatarServer]:
    with serve_liveavatar() as server:
        yield server


@pytest.fixture(scope="session")
def _akool_server() -> Iterator[AkoolServer]:
    with serve_akool() as server:
        yield server


@pytest.fixture(scope="session")
def _simli_server() -> Iterator[SimliServer]:
    with serve_simli() as server:
        yield server


@pytest.fixture
def simli(_simli_server: SimliServer) -> SimliServer:
    """The Simli fake, fresh."""
    _simli_server.fake.reset()
    return _simli_server


@pytest.fixture(scope="session")
def _tavus_server() -> Iterator[TavusServer]:
    with serve_tavus() as server:
        yield server


@pytest.fixture
def tavus(_tavus_server: TavusServer) -> TavusServer:
    """The Tavus fake, fresh."""
    _tavus_server.fake.reset()
    return _tavus_server


@pytest.fixture
def liveavatar(_liveavatar_server: LiveAvatarServer) -> LiveAvatarServer:
    """The LiveAvatar fake, fresh: no sessions, full credit, default knobs."""
    _liveavatar_server.fake.reset()
    return _liveavatar_server


@pytest.fixture
def akool(_akool_server: AkoolServer) -> AkoolServer:
    """The Akool fake, fresh: no sessions, default knobs."""
    _akool_server.fake.reset()
    return _akool_server


class RecordedSleeps:
    """A ``sleep`` for retry and polling code that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait for a condition a fake reaches in its own thread."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
