"""The LiveAvatar REST client against its fake over real HTTP: credentials, codes, listing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.avatars.conftest import RecordedSleeps
from tests.fakes.liveavatar import LiveAvatarServer
from visavis.avatars.errors import (
    ProviderAuthError,
    ProviderInvalidRequest,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
)
from visavis.avatars.liveavatar.api import LiveAvatarAPI, liveavatar_error
from visavis.avatars.retry import with_retries

KEY = "test-liveavatar-key"
AVATAR = "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01"


@pytest.fixture
async def api(liveavatar: LiveAvatarServer) -> AsyncIterator[LiveAvatarAPI]:
    client = LiveAvatarAPI(api_key=KEY, base_url=liveavatar.base_url, timeout_s=2)
    yield client
    await client.aclose()


async def test_token_with_the_key_then_start_with_the_session_token(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI
) -> None:
    token = await api.create_token({"mode": "LITE", "avatar_id": AVATAR})
    started = await api.start(token)
    assert started.session_id == token.session_id
    assert started.ws_url is not None and started.ws_url.startswith("ws://127.0.0.1")
    assert started.livekit_client_token.startswith("lkc-")
    token_call, start_call = liveavatar.fake.requests("/v1/sessions/")[:2]
    assert token_call["headers"]["x-api-key"] == KEY
    assert "x-api-key" not in start_call["headers"]
    assert start_call["headers"]["authorization"] == f"Bearer {token.session_token}"
    assert start_call["status"] == 201
    # The first minute is escrowed at start: LITE is 1 credit a minute.
    assert liveavatar.fake.credit[0] == 999.0


async def test_start_with_the_api_key_is_refused_by_the_fake(liveavatar: LiveAvatarServer) -> None:
    async with httpx.AsyncClient(base_url=liveavatar.base_url) as http:
        answer = await http.post("/v1/sessions/start", headers={"X-API-KEY": KEY}, json={})
    assert answer.status_code == 401
    error = liveavatar_error(answer, answer.json())
    assert isinstance(error, ProviderAuthError)


@pytest.mark.parametrize("code", [100, 1000])
async def test_both_success_codes_are_accepted(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI, code: int
) -> None:
    liveavatar.configure(success_code=code)
    token = await api.create_token({"mode": "LITE", "avatar_id": AVATAR})
    assert (await api.start(token)).session_id == token.session_id
    liveavatar.configure(success_code=4000)  # anything else is a failure, even with HTTP 200
    with pytest.raises(ProviderProtocolError):
        await api.list_sessions()


async def test_wrong_key_and_invalid_body_are_typed(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI
) -> None:
    wrong = LiveAvatarAPI(api_key="wrong", base_url=liveavatar.base_url)
    try:
        with pytest.raises(ProviderAuthError):
            await wrong.list_sessions()
    finally:
        await wrong.aclose()
    with pytest.raises(ProviderInvalidRequest) as caught:
        await api.create_token({"mode": "HALF", "avatar_id": AVATAR})
    assert "mode" in caught.value.message


async def test_no_start_without_credit_for_a_minute(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI
) -> None:
    liveavatar.configure(credits=1.0)
    token = await api.create_token({"mode": "FULL", "avatar_id": AVATAR})
    with pytest.raises(ProviderQuotaError):
        await api.start(token)


async def test_a_429_carries_retry_after_and_is_retried(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI, sleeps: RecordedSleeps
) -> None:
    liveavatar.configure(rate_limit_per_s=1)
    liveavatar.fake.clock.offset = 0.5 - (liveavatar.fake.clock() % 1)  # mid-window
    await api.list_sessions()
    with pytest.raises(ProviderRateLimited) as caught:
        await api.list_sessions()
    assert caught.value.retry_after_s is not None and 0 < caught.value.retry_after_s <= 1
    liveavatar.fake.clock.offset += 1  # the next window
    sessions, more = await with_retries(
        lambda: api.list_sessions(), sleep=sleeps, provider="liveavatar"
    )
    assert (sessions, more) == ([], False)


async def test_listing_pages_with_iso_times_and_stop_is_idempotent(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI
) -> None:
    ids = []
    for _ in range(3):
        token = await api.create_token({"mode": "LITE", "avatar_id": AVATAR})
        await api.start(token)
        ids.append(token.session_id)
    page, more = await api.list_sessions(page_size=2)
    assert len(page) == 2 and more
    every = await api.list_all()
    assert sorted(s.session_id for s in every) == sorted(ids)
    assert all(s.created_at is not None and s.created_at.tzinfo is not None for s in every)
    assert await api.stop(ids[0]) is True
    assert await api.stop(ids[0]) is False
    assert await api.stop("00000000-0000-0000-0000-000000000000") is False
    assert liveavatar.fake.requests("/v1/sessions/stop")[0]["json"] == {
        "session_id": ids[0],
        "reason": "USER_CLOSED",
    }
    historic = await api.list_all(kind="historic")
    assert [(s.session_id, s.end_reason) for s in historic] == [(ids[0], "USER_CLOSED")]


async def test_idle_sessions_end_and_credits_run_out(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI
) -> None:
    liveavatar.configure(credits=3.0)
    token = await api.create_token({"mode": "FULL", "avatar_id": AVATAR})
    await api.start(token)  # 2 credits escrowed
    await api.keep_alive(token.session_id)
    liveavatar.configure(advance_clock_s=61)  # a second minute starts: 2 more, only 1 left
    listed = await api.session(token.session_id)
    assert listed.end_reason == "NO_CREDITS" and listed.credits_consumed == 2
    liveavatar.configure(credits=100.0)
    other = await api.create_token({"mode": "LITE", "avatar_id": AVATAR})
    await api.start(other)
    liveavatar.configure(advance_clock_s=301)
    assert (await api.session(other.session_id)).end_reason == "IDLE_TIMEOUT"


async def test_sandbox_sessions_are_free_and_short(
    liveavatar: LiveAvatarServer, api: LiveAvatarAPI
) -> None:
    sandbox = "dd73ea75-1218-4ef3-92ce-606d5f7fbc0a"
    with pytest.raises(ProviderInvalidRequest):
        await api.create_token({"mode": "LITE", "avatar_id": AVATAR, "is_sandbox": True})
    token = await api.create_token({"mode": "LITE", "avatar_id": sandbox, "is_sandbox": True})
    await api.start(token)
    liveavatar.configure(advance_clock_s=30)
    await api.keep_alive(token.session_id)
    liveavatar.configure(advance_clock_s=31)
    listed = await api.session(token.session_id)
    assert (listed.end_reason, listed.credits_consumed) == ("MAX_DURATION_REACHED", 0)
    assert liveavatar.fake.credit[0] == 1000.0


async def test_avatars_are_listed(api: LiveAvatarAPI) -> None:
    avatars = await api.list_avatars()
    assert avatars and {"id", "name", "preview_url"} <= set(avatars[0])
