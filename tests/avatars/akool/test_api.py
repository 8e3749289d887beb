"""The Akool client against the Akool fake over real HTTP: auth, lifecycle, polling, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.avatars.conftest import RecordedSleeps
from tests.fakes.akool import AkoolServer
from visavis.avatars.akool.api import AkoolAPI, AkoolSession
from visavis.avatars.errors import (
    ProviderAuthError,
    ProviderBusy,
    ProviderConcurrencyLimit,
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderNotReady,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRefused,
    ProviderSessionFailed,
    ProviderTimeout,
    ProviderUnavailable,
)
from visavis.avatars.retry import with_retries

KEY = "test-akool-key"
CLIENT = {"client_id": "test-client-id", "client_secret": "test-client-secret"}


@pytest.fixture
async def api(akool: AkoolServer) -> AsyncIterator[AkoolAPI]:
    client = AkoolAPI(api_key=KEY, base_url=akool.base_url, timeout_s=2)
    yield client
    await client.aclose()


@pytest.fixture
async def token_api(akool: AkoolServer) -> AsyncIterator[AkoolAPI]:
    client = AkoolAPI(base_url=akool.base_url, timeout_s=2, **CLIENT)
    yield client
    await client.aclose()


async def test_a_session_is_created_polled_ready_listed_and_closed(
    akool: AkoolServer, api: AkoolAPI, sleeps: RecordedSleeps
) -> None:
    created = await api.create_session(
        avatar_id="dvp_Tristan_cloth2_1080P", duration_s=300, voice_id="v1", language="en"
    )
    assert created.status == 1 and created.is_pending
    assert created.stream_type == "agora"
    assert {"agora_app_id", "agora_channel", "agora_token", "agora_uid"} <= set(created.credentials)
    ready = await api.wait_until_ready(created.session_id, poll_interval_s=0.25, sleep=sleeps)
    assert ready.is_ready and ready.session_id == created.session_id
    assert sleeps.waits == [0.25]
    assert len(akool.fake.requests("/session/detail")) == 2

    listed = await api.list_sessions(status=3)
    assert [s.session_id for s in listed.sessions] == [created.session_id]
    assert await api.close_session(created.session_id) is True
    assert (await api.list_sessions(status=3)).sessions == []
    assert akool.fake.open_sessions() == []

    create_request = akool.fake.requests("/session/create")[0]
    assert create_request["headers"]["x-api-key"] == KEY
    assert create_request["json"] == {
        "avatar_id": "dvp_Tristan_cloth2_1080P",
        "duration": 300,
        "stream_type": "agora",
        "voice_id": "v1",
        "language": "en",
    }
    assert akool.fake.requests("/session/close")[0]["json"] == {
        "id": created.session_id,
        "session_id": created.session_id,
    }


async def test_status_moves_one_step_per_poll(akool: AkoolServer, api: AkoolAPI) -> None:
    akool.configure(polls_to_ready=3)
    created = await api.create_session(avatar_id="a", duration_s=60)
    statuses = [(await api.session_detail(created.session_id)).status for _ in range(4)]
    assert [created.status, *statuses] == [1, 2, 2, 3, 3]


async def test_a_failed_session_raises_while_waiting(akool: AkoolServer, api: AkoolAPI) -> None:
    akool.configure(fail_sessions=True)
    created = await api.create_session(avatar_id="a", duration_s=60)
    with pytest.raises(ProviderSessionFailed):
        await api.wait_until_ready(created.session_id, poll_interval_s=0.001)


async def test_waiting_gives_up_after_its_timeout(akool: AkoolServer, api: AkoolAPI) -> None:
    akool.configure(polls_to_ready=10_000)
    created = await api.create_session(avatar_id="a", duration_s=60)
    with pytest.raises(ProviderTimeout) as caught:
        await api.wait_until_ready(created.session_id, poll_interval_s=0.01, timeout_s=0.1)
    assert "status 2" in str(caught.value)


async def test_sessions_end_after_their_duration(akool: AkoolServer, api: AkoolAPI) -> None:
    created = await api.create_session(avatar_id="a", duration_s=120)
    await api.wait_until_ready(created.session_id, poll_interval_s=0.001)
    akool.configure(advance_clock_s=121)
    assert (await api.session_detail(created.session_id)).is_failed
    assert akool.fake.open_sessions() == []
    assert (await api.list_sessions(status=3)).sessions == []


async def test_close_is_idempotent_and_tolerates_unknown_sessions(api: AkoolAPI) -> None:
    created = await api.create_session(avatar_id="a", duration_s=60)
    assert await api.close_session(created.session_id) is True
    assert await api.close_session(created.session_id) is True
    assert await api.close_session("000000000000000000000000") is False
    with pytest.raises(ProviderNotFound):
        await api.close_session("000000000000000000000000", missing_ok=False)


async def test_a_bearer_token_is_fetched_once_and_refreshed_when_it_expires(
    akool: AkoolServer, token_api: AkoolAPI
) -> None:
    await token_api.create_session(avatar_id="a", duration_s=60)
    await token_api.list_sessions()
    assert len(akool.fake.requests("/getToken")) == 1
    akool.configure(expire_tokens=True)
    assert len((await token_api.list_sessions()).sessions) == 1
    assert len(akool.fake.requests("/getToken")) == 2
    token_request = akool.fake.requests("/getToken")[0]
    assert token_request["json"] == {
        "clientId": "test-client-id",
        "clientSecret": "test-client-secret",
    }
    listed = akool.fake.requests("/session/list")
    assert [r["status"] for r in listed] == [200, 200, 200]  # the 1101 came with HTTP 200
    assert listed[0]["headers"]["authorization"].startswith("Bearer akt-")
    assert "x-api-key" not in listed[0]["headers"]


async def test_a_token_refused_twice_is_an_auth_error(akool: AkoolServer) -> None:
    akool.configure(token_ttl_s=0.0)
    client = AkoolAPI(base_url=akool.base_url, **CLIENT)
    try:
        with pytest.raises(ProviderAuthError) as caught:
            await client.list_sessions()
    finally:
        await client.aclose()
    assert caught.value.provider_code == 1101
    assert len(akool.fake.requests("/getToken")) == 2


@pytest.mark.parametrize("http_status", [200, 400, 401])
async def test_the_code_decides_whatever_the_http_status(
    akool: AkoolServer, http_status: int
) -> None:
    akool.configure(error_http_status=http_status)
    client = AkoolAPI(api_key="wrong", base_url=akool.base_url)
    try:
        with pytest.raises(ProviderAuthError) as caught:
            await client.list_sessions()
    finally:
        await client.aclose()
    assert (caught.value.status, caught.value.provider_code) == (http_status, 1101)


async def test_wrong_client_credentials_and_banned_accounts_are_auth_errors(
    akool: AkoolServer, api: AkoolAPI
) -> None:
    client = AkoolAPI(base_url=akool.base_url, client_id="test-client-id", client_secret="nope")
    try:
        with pytest.raises(ProviderAuthError):
            await client.list_sessions()
    finally:
        await client.aclose()
    akool.configure(banned=True)
    with pytest.raises(ProviderAuthError) as caught:
        await api.list_sessions()
    assert caught.value.provider_code == 1200


async def test_quota_concurrency_and_unknown_avatars_are_typed(
    akool: AkoolServer, api: AkoolAPI
) -> None:
    akool.configure(quota_exceeded=True)
    with pytest.raises(ProviderQuotaError):
        await api.create_session(avatar_id="a", duration_s=60)
    akool.configure(quota_exceeded=False, max_concurrent=1, avatars=["a"])
    with pytest.raises(ProviderNotFound):
        await api.create_session(avatar_id="b", duration_s=60)
    await api.create_session(avatar_id="a", duration_s=60)
    with pytest.raises(ProviderConcurrencyLimit):
        await api.create_session(avatar_id="a", duration_s=60)


async def test_invalid_parameters_are_refused(akool: AkoolServer, api: AkoolAPI) -> None:
    with pytest.raises(ValueError):
        await api.create_session(avatar_id="a", duration_s=3601)
    with pytest.raises(ProviderError) as generic:
        await api.create_session(avatar_id="a", duration_s=60, extra={"stream_type": "webrtc"})
    assert generic.value.provider_code == 1003
    akool.configure(error_http_status=400)
    with pytest.raises(ProviderInvalidRequest):
        await api.create_session(avatar_id="a", duration_s=60, extra={"stream_type": "webrtc"})


async def test_server_errors_rate_limits_and_hangs_are_typed(akool: AkoolServer) -> None:
    api = AkoolAPI(api_key=KEY, base_url=akool.base_url, timeout_s=0.2)
    try:
        akool.configure(fail_next=1)
        with pytest.raises(ProviderUnavailable):
            await api.list_sessions()
        akool.configure(rate_limit_next=1, retry_after_s=3)
        with pytest.raises(ProviderRateLimited) as limited:
            await api.list_sessions()
        assert limited.value.retry_after_s == 3.0
        akool.configure(hang_next=1, hang_s=5)
        with pytest.raises(ProviderTimeout):
            await api.list_sessions()
        assert (await api.list_sessions()).sessions == []
    finally:
        await api.aclose()


@pytest.mark.parametrize("stream_type", ["livekit", "trtc"])
async def test_other_stream_types_carry_their_credentials(api: AkoolAPI, stream_type: str) -> None:
    created = await api.create_session(avatar_id="a", duration_s=60, stream_type=stream_type)  # type: ignore[arg-type]
    assert created.stream_type == stream_type
    assert all(key.startswith(stream_type) for key in created.credentials)


async def test_lists_page_and_filter(api: AkoolAPI) -> None:
    ids = [(await api.create_session(avatar_id="a", duration_s=60)).session_id for _ in range(3)]
    await api.close_session(ids[0])
    page = await api.list_sessions(page=1, size=2)
    assert (page.total, len(page.sessions)) == (3, 2)
    assert [s.session_id for s in (await api.list_sessions(status=1)).sessions] == ids[1:]
    assert [s.session_id for s in (await api.list_sessions(status=4)).sessions] == ids[:1]
    assert [a["avatar_id"] for a in await api.list_avatars()] == ["dvp_Tristan_cloth2_1080P"]


async def test_aclose_is_idempotent(akool: AkoolServer) -> None:
    api = AkoolAPI(api_key=KEY, base_url=akool.base_url)
    await api.aclose()
    await api.aclose()
    with pytest.raises(ProviderError):
        await api.list_sessions()


def test_a_client_needs_credentials() -> None:
    with pytest.raises(ValueError):
        AkoolAPI()
    with pytest.raises(ValueError):
        AkoolAPI(client_id="only-the-id")


def test_agora_tokens_stay_out_of_reprs() -> None:
    session = AkoolSession(session_id="s", status=3, credentials={"agora_token": "secret"})
    assert "secret" not in repr(session)


@pytest.mark.parametrize(
    ("knob", "code", "error"),
    [
        ({"unverified": True}, 1004, ProviderRefused),
        ({"quota_exceeded": True}, 1006, ProviderQuotaError),
        ({"balance_insufficient": True}, 1104, ProviderQuotaError),
        ({"avatars": ["a"]}, 1014, ProviderNotFound),
        ({"avatar_processing": True}, 1214, ProviderNotReady),
        ({"max_concurrent": 0}, 1215, ProviderBusy),
    ],
)
async def test_business_codes_arrive_with_http_200_and_are_typed(
    akool: AkoolServer, api: AkoolAPI, knob: dict[str, object], code: int, error: type
) -> None:
    akool.configure(**knob)
    with pytest.raises(error) as caught:
        await api.create_session(avatar_id="b", duration_s=60)
    assert (caught.value.status, caught.value.provider_code) == (200, code)


async def test_too_frequent_is_a_rate_limit_retried_with_backoff(
    akool: AkoolServer, api: AkoolAPI, sleeps: RecordedSleeps
) -> None:
    akool.configure(too_frequent_next=2)
    with pytest.raises(ProviderRateLimited) as caught:
        await api.list_sessions()
    assert caught.value.provider_code == 1005 and caught.value.retry_after_s is None
    page = await with_retries(lambda: api.list_sessions(), sleep=sleeps, provider="akool")
    assert page.sessions == [] and sleeps.waits == [1.0]


async def test_an_unknown_session_is_1216_and_closing_it_is_done(api: AkoolAPI) -> None:
    with pytest.raises(ProviderNotFound) as caught:
        await api.session_detail("000000000000000000000000")
    assert caught.value.provider_code == 1216
    assert await api.close_session("000000000000000000000000") is False
