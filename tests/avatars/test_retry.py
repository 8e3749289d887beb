"""The retry policy against a real fake server: what is retried, how long it waits, when."""

from __future__ import annotations

import time

import pytest

from tests.avatars.conftest import RecordedSleeps
from tests.fakes.heygen import HeyGenServer
from visavis.avatars.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from visavis.avatars.heygen.api import HeyGenAPI, HeyGenListedSession
from visavis.avatars.retry import with_retries


@pytest.fixture
async def api(heygen: HeyGenServer):
    client = HeyGenAPI(api_key="test-heygen-key", base_url=heygen.base_url, timeout_s=0.5)
    yield client
    await client.aclose()


def list_calls(heygen: HeyGenServer) -> int:
    return len(heygen.fake.requests("/v1/streaming.list"))


async def test_server_errors_are_retried_with_backoff_until_success(
    heygen: HeyGenServer, api: HeyGenAPI, sleeps: RecordedSleeps
) -> None:
    heygen.configure(fail_next=2)
    result = await with_retries(api.list_v1, sleep=sleeps)
    assert result == []
    assert sleeps.waits == [1.0, 2.0]
    assert list_calls(heygen) == 3


async def test_gives_up_after_the_last_attempt_with_the_last_error(
    heygen: HeyGenServer, api: HeyGenAPI, sleeps: RecordedSleeps
) -> None:
    heygen.configure(fail_next=5, fail_status=503)
    with pytest.raises(ProviderUnavailable) as caught:
        await with_retries(api.list_v1, attempts=3, sleep=sleeps)
    assert caught.value.status == 503
    assert sleeps.waits == [1.0, 2.0]
    assert list_calls(heygen) == 3


async def test_backoff_repeats_its_last_wait(
    heygen: HeyGenServer, api: HeyGenAPI, sleeps: RecordedSleeps
) -> None:
    heygen.configure(fail_next=4)
    await with_retries(api.list_v1, attempts=5, backoff=(0.1, 0.2), sleep=sleeps)
    assert sleeps.waits == [0.1, 0.2, 0.2, 0.2]


async def test_rate_limit_waits_for_retry_after(
    heygen: HeyGenServer, api: HeyGenAPI, sleeps: RecordedSleeps
) -> None:
    heygen.configure(rate_limit_next=1, retry_after_s=7)
    retries: list[tuple[int, ProviderError, float]] = []
    await with_retries(
        api.list_v1, sleep=sleeps, on_retry=lambda n, e, w: retries.append((n, e, w))
    )
    assert sleeps.waits == [7.0]
    assert len(retries) == 1
    attempt, error, wait = retries[0]
    assert (attempt, wait) == (1, 7.0)
    assert isinstance(error, ProviderRateLimited) and error.retry_after_s == 7.0


async def test_timeouts_are_retried(
    heygen: HeyGenServer, api: HeyGenAPI, sleeps: RecordedSleeps
) -> None:
    heygen.configure(hang_next=1, hang_s=5)
    assert await with_retries(api.list_v1, sleep=sleeps) == []
    assert sleeps.waits == [1.0]


async def test_auth_errors_are_not_retried(heygen: HeyGenServer, sleeps: RecordedSleeps) -> None:
    client = HeyGenAPI(api_key="wrong-key", base_url=heygen.base_url)
    try:
        with pytest.raises(ProviderAuthError):
            await with_retries(client.list_v1, sleep=sleeps)
    finally:
        await client.aclose()
    assert sleeps.waits == []
    assert list_calls(heygen) == 1


async def test_quota_errors_are_not_retried(
    heygen: HeyGenServer, api: HeyGenAPI, sleeps: RecordedSleeps
) -> None:
    heygen.configure(quota_exceeded=True)
    with pytest.raises(ProviderQuotaError):
        await with_retries(lambda: api.new_session(avatar_id="anna"), sleep=sleeps)
    assert sleeps.waits == []
    assert len(heygen.fake.requests("/v1/streaming.new")) == 1


async def test_no_wait_starts_that_would_end_past_the_deadline(
    heygen: HeyGenServer, api: HeyGenAPI, sleeps: RecordedSleeps
) -> None:
    heygen.configure(fail_next=5)
    with pytest.raises(ProviderUnavailable):
        await with_retries(api.list_v1, deadline=time.monotonic() + 0.5, sleep=sleeps)
    assert sleeps.waits == []
    assert list_calls(heygen) == 1


async def test_the_deadline_bounds_a_hanging_attempt(
    heygen: HeyGenServer, sleeps: RecordedSleeps
) -> None:
    heygen.configure(hang_next=3, hang_s=10)
    client = HeyGenAPI(api_key="test-heygen-key", base_url=heygen.base_url, timeout_s=10)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderTimeout) as caught:
            await with_retries(
                client.list_v1, deadline=started + 0.3, sleep=sleeps, provider="heygen"
            )
    finally:
        await client.aclose()
    assert caught.value.provider == "heygen"
    assert caught.value.reason == "timeout"
    assert sleeps.waits == []


async def test_the_result_of_the_call_is_returned(heygen: HeyGenServer, api: HeyGenAPI) -> None:
    session = await api.new_session(avatar_id="anna")
    listed = await with_retries(api.list_v1)
    assert listed == [
        HeyGenListedSession(
            session_id=session.session_id, status="new", created_at=listed[0].created_at
        )
    ]


async def test_attempts_and_backoff_are_validated() -> None:
    async def never() -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError):
        await with_retries(never, attempts=0)
    with pytest.raises(ValueError):
        await with_retries(never, backoff=())
