from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.fakes.openai_compatible import FakeOpenAI


@pytest.fixture(scope="module")
def _fake_openai_server() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with fake.serve() as base_url:
        yield fake, base_url


@pytest.fixture
def fake_openai(_fake_openai_server: tuple[FakeOpenAI, str]) -> Iterator[FakeOpenAI]:
    """The fake server with default knobs and no recorded requests."""
    fake, _ = _fake_openai_server
    fake.reset()
    yield fake
    fake.reset()  # also ends streams a test left stalled
    deadline = time.monotonic() + 2
    while fake.open_streams and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture
def fake_openai_url(_fake_openai_server: tuple[FakeOpenAI, str], fake_openai: FakeOpenAI) -> str:
    """Base URL of the fake (``http://127.0.0.1:<port>/v1``)."""
    return _fake_openai_server[1]
