"""Fixtures of the avatar provider tests: the HeyGen and Akool fakes on loopback.

Each fake serves for the whole session and is reset (sessions, requests, knobs,
clock) before every test that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.akool import AkoolServer, serve_akool
from tests.fakes.heygen import HeyGenServer, serve_heygen


@pytest.fixture(scope="session")
def _heygen_server() -> Iterator[HeyGenServer]:
    with serve_heygen() as server:
        yield server


@pytest.fixture(scope="session")
def _akool_server() -> Iterator[AkoolServer]:
    with serve_akool() as server:
        yield server


@pytest.fixture
def heygen(_heygen_server: HeyGenServer) -> HeyGenServer:
    """The HeyGen fake, fresh: no sessions, default knobs."""
    _heygen_server.fake.reset()
    return _heygen_server


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
