"""Fixtures of the avatar provider tests: the provider fakes on loopback.

Each fake serves for the whole session and is reset (sessions, requests, knobs,
clock) before every test that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.akool import AkoolServer, serve_akool
from tests.fakes.liveavatar import LiveAvatarServer, serve_liveavatar


@pytest.fixture(scope="session")
def _liveavatar_server() -> Iterator[LiveAvatarServer]:
    with serve_liveavatar() as server:
        yield server


@pytest.fixture(scope="session")
def _akool_server() -> Iterator[AkoolServer]:
    with serve_akool() as server:
        yield server


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
