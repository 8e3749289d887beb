"""The retry policy against a real fake server: what is retried, how long it waits, when."""

from __future__ import annotations

import time

import pytest

from tests.avatars.conftest import RecordedSleeps
from tests.fakes.liveavatar import LiveAvatarServer
from visavis.avatars.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from visavis.avatars.liveavatar.api import LiveAvatarAPI
from visavis.avatars.retry import with_retries

AVATAR = "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01"


@pytest.fixture
async def api(liveavatar: LiveAvatarServer):
    client = LiveAvatarAPI(
        api_key="test-liveavatar-key", base_url=liveavatar.base_url, timeout_s=0.5
    )
    yield client
    await client.aclose()


def list_calls(liveavatar: LiveAvatarServer) -> int:
    return sum(r["path"] == "/v1/sessions" for r in liveavatar.fake.requests())


async def test_server_errors_are_retried_with_backoff_until_success(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI, sleeps: RecordedSleeps
) -> None:
    liveavatar.configure(fail_next=2)
    result = await with_retries(api.list_all, sleep=sleeps)
    assert result == []
    assert sleeps.waits == [1.0, 2.0]
    assert list_calls(liveavatar) == 3


async def test_gives_up_after_the_last_attempt_with_the_last_error(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI, sleeps: RecordedSleeps
) -> None:
    liveavatar.configure(fail_next=5, fail_status=503)
    with pytest.raises(ProviderUnavailable) as caught:
        await with_retries(api.list_all, attempts=3, sleep=sleeps)
    assert caught.value.status == 503
    assert sleeps.waits == [1.0, 2.0]
    assert list_calls(liveavatar) == 3


async def test_backoff_repeats_its_last_wait(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI, sleeps: RecordedSleeps
) -> None:
    liveavatar.configure(fail_next=4)
    await with_retries(api.list_all, attempts=5, backoff=(0.1, 0.2), sleep=sleeps)
    assert sleeps.waits == [0.1, 0.2, 0.2, 0.2]


async def test_rate_limit_waits_for_retry_after(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI, sleeps: RecordedSleeps
) -> None:
    liveavatar.configure(rate_limit_next=1, retry_after_s=7)
    retries: list[tuple[int, ProviderError, float]] = []
    await with_retries(
        api.list_all, sleep=sleeps, on_retry=lambda n, e, w: retries.append((n, e, w))
    )
    assert sleeps.waits == [7.0]
    assert len(retries) == 1
    attempt, error, wait = retries[0]
    assert (attempt, wait) == (1, 7.0)
    assert isinstance(error, ProviderRateLimited) and error.retry_after_s == 7.0


async def test_timeouts_are_retried(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI, sleeps: RecordedSleeps
) -> None:
    liveavatar.configure(hang_next=1, hang_s=5)
    assert await with_retries(api.list_all, sleep=sleeps) == []
    assert sleeps.waits == [1.0]


async def test_auth_errors_are_not_retried(
    liveavatar: LiveAvatarServer, sleeps: RecordedSleeps
) -> None:
    client = LiveAvatarAPI(api_key="wrong-key", base_url=liveavatar.base_url)
    try:
        with pytest.raises(ProviderAuthError):
            await with_retries(client.list_all, sleep=sleeps)
    finally:
        await client.aclose()
    assert sleeps.waits == []
    assert list_calls(liveavatar) == 1


async def test_quota_errors_are_not_retried(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI, sleeps: RecordedSleeps
) -> None:
    liveavatar.configure(credits=0.0)
    token = await api.create_token({"mode": "LITE", "avatar_id": AVATAR})
    with pytest.raises(ProviderQuotaError):
        await with_retries(lambda: api.start(token), sleep=sleeps)
    assert sleeps.waits == []
    assert len(liveavatar.fake.requests("/v1/sessions/start")) == 1


async def test_no_wait_starts_that_would_end_past_the_deadline(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI, sleeps: RecordedSleeps
) -> None:
    liveavatar.configure(fail_next=5)
    with pytest.raises(ProviderUnavailable):
        await with_retries(api.list_all, deadline=time.monotonic() + 0.5, sleep=sleeps)
    assert sleeps.waits == []
    assert list_calls(liveavatar) == 1


async def test_the_deadline_bounds_a_hanging_attempt(
    liveavatar: LiveAvatarServer, sleeps: RecordedSleeps
) -> None:
    liveavatar.configure(hang_next=3, hang_s=10)
    client = LiveAvatarAPI(
        api_key="test-liveavatar-key", base_url=liveavatar.base_url, timeout_s=10
    )
    started = time.monotonic()
    try:
        with pytest.raises(ProviderTimeout) as caught:
            await with_retries(
                client.list_all, deadline=started + 0.3, sleep=sleeps, provider="liveavatar"
            )
    finally:
        await client.aclose()
    assert caught.value.provider == "liveavatar"
    assert caught.value.reason == "timeout"
    assert sleeps.waits == []


async def test_the_result_of_the_call_is_returned(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI
) -> None:
    token = await api.create_token({"mode": "LITE", "avatar_id": AVATAR})
    await api.start(token)
    listed = await with_retries(api.list_all)
    assert [(s.session_id, s.mode) for s in listed] == [(token.session_id, "LITE")]


async def test_attempts_and_backoff_are_validated() -> None:
    async def never() -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError):
        await with_retries(never, attempts=0)
    with pytest.raises(ValueError):
        await with_retries(never, backoff=())
