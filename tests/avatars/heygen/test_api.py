"""The HeyGen client against the HeyGen fake over real HTTP: contract, auth, states, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.fakes.heygen import HeyGenServer
from tests.fakes.loopback import free_port, serve
from visavis.avatars.errors import (
    ProviderAuthError,
    ProviderConcurrencyLimit,
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderSessionStateError,
    ProviderTimeout,
    ProviderUnavailable,
)
from visavis.avatars.heygen.api import HeyGenAPI, HeyGenVoice
from visavis.errors import VisavisError

KEY = "test-heygen-key"


@pytest.fixture
async def api(heygen: HeyGenServer) -> AsyncIterator[HeyGenAPI]:
    client = HeyGenAPI(api_key=KEY, base_url=heygen.base_url, timeout_s=2)
    yield client
    await client.aclose()


@pytest.mark.parametrize("auth", ["x-api-key", "bearer"])
@pytest.mark.parametrize("envelope", ["code", "error"])
async def test_a_session_lives_from_new_to_stop(
    heygen: HeyGenServer, auth: str, envelope: str
) -> None:
    heygen.configure(envelope=envelope)
    api = HeyGenAPI(api_key=KEY, base_url=heygen.base_url, auth=auth)  # type: ignore[arg-type]
    try:
        session = await api.new_session(
            avatar_id="anna",
            quality="high",
            voice=HeyGenVoice(voice_id="v1", rate=1.1, emotion="friendly"),
            activity_idle_timeout=60,
        )
        assert session.url.startswith("wss://")
        assert session.access_token
        assert session.session_duration_limit_s == 600
        assert await api.start(session.session_id) == "success"
        spoken = await api.task(session.session_id, "Hello there.")
        assert spoken.task_id and spoken.duration_ms and spoken.duration_ms > 0
        await api.keep_alive(session.session_id)
        await api.interrupt(session.session_id)
        assert [s.session_id for s in await api.list_v1()] == [session.session_id]
        assert await api.stop(session.session_id) is True
        assert await api.list_v1() == []
    finally:
        await api.aclose()

    new_request = heygen.fake.requests("/v1/streaming.new")[0]
    assert new_request["json"] == {
        "quality": "high",
        "avatar_id": "anna",
        "version": "v2",
        "voice": {"voice_id": "v1", "rate": 1.1, "emotion": "friendly"},
        "activity_idle_timeout": 60,
    }
    expected_header = (
        ("x-api-key", KEY) if auth == "x-api-key" else ("authorization", f"Bearer {KEY}")
    )
    assert new_request["headers"][expected_header[0]] == expected_header[1]
    task = heygen.fake.requests("/v1/streaming.task")[0]["json"]
    assert task == {
        "session_id": session.session_id,
        "text": "Hello there.",
        "task_type": "repeat",
        "task_mode": "sync",
    }
    stored = heygen.fake.session(session.session_id)
    assert stored["closed_reason"] == "stopped"
    assert stored["interrupts"] == 1 and stored["keep_alives"] == 1


async def test_a_task_before_start_is_a_session_state_error(api: HeyGenAPI) -> None:
    session = await api.new_session(avatar_id="anna")
    with pytest.raises(ProviderSessionStateError) as caught:
        await api.task(session.session_id, "Too early.")
    assert (caught.value.status, caught.value.provider_code) == (400, 400006)
    assert caught.value.provider == "heygen"
    assert "400006" in str(caught.value)


async def test_stop_is_idempotent_and_tolerates_unknown_sessions(api: HeyGenAPI) -> None:
    session = await api.new_session(avatar_id="anna")
    assert await api.stop(session.session_id) is True
    assert await api.stop(session.session_id) is True
    assert await api.stop("no-such-session") is False
    with pytest.raises(ProviderNotFound):
        await api.stop("no-such-session", missing_ok=False)


async def test_a_closed_session_refuses_start_task_and_keep_alive(api: HeyGenAPI) -> None:
    session = await api.new_session(avatar_id="anna")
    await api.start(session.session_id)
    await api.stop(session.session_id)
    for call in (
        lambda: api.start(session.session_id),
        lambda: api.task(session.session_id, "Anyone?"),
        lambda: api.keep_alive(session.session_id),
    ):
        with pytest.raises(ProviderSessionStateError) as caught:
            await call()
        assert caught.value.provider_code == 10005


async def test_idle_sessions_expire_unless_kept_alive(heygen: HeyGenServer, api: HeyGenAPI) -> None:
    kept = await api.new_session(avatar_id="anna", activity_idle_timeout=30)
    idle = await api.new_session(avatar_id="anna", activity_idle_timeout=30)
    for _ in range(3):
        heygen.configure(advance_clock_s=20)
        await api.keep_alive(kept.session_id)
    with pytest.raises(ProviderSessionStateError):
        await api.keep_alive(idle.session_id)
    assert [s.session_id for s in await api.list_v1()] == [kept.session_id]
    assert heygen.fake.session(idle.session_id)["closed_reason"] == "idle_timeout"


async def test_the_idle_timeout_knob_overrides_the_requested_one(
    heygen: HeyGenServer, api: HeyGenAPI
) -> None:
    heygen.configure(idle_timeout_s=2)
    session = await api.new_session(avatar_id="anna", activity_idle_timeout=600)
    heygen.configure(advance_clock_s=2.5)
    assert await api.list_v1() == []
    assert heygen.fake.session(session.session_id)["closed_reason"] == "idle_timeout"


async def test_sessions_end_at_their_duration_limit_and_cut_what_is_being_said(
    heygen: HeyGenServer, api: HeyGenAPI
) -> None:
    heygen.configure(session_duration_limit_s=60, ms_per_char=200)
    session = await api.new_session(avatar_id="anna")
    assert session.session_duration_limit_s == 60
    await api.start(session.session_id)
    heygen.configure(advance_clock_s=55)
    await api.task(session.session_id, "This sentence takes far longer than five seconds.")
    heygen.configure(advance_clock_s=5)
    with pytest.raises(ProviderSessionStateError):
        await api.task(session.session_id, "Too late.")
    stored = heygen.fake.session(session.session_id)
    assert stored["closed_reason"] == "duration_limit"
    assert stored["cut_tasks"] == 1


async def test_the_concurrency_limit_is_a_typed_error(heygen: HeyGenServer, api: HeyGenAPI) -> None:
    heygen.configure(max_concurrent=1)
    first = await api.new_session(avatar_id="anna")
    with pytest.raises(ProviderConcurrencyLimit):
        await api.new_session(avatar_id="anna")
    await api.stop(first.session_id)
    await api.new_session(avatar_id="anna")


@pytest.mark.parametrize("status", [402, 400])
async def test_quota_errors_are_typed_by_status_or_wording(
    heygen: HeyGenServer, api: HeyGenAPI, status: int
) -> None:
    heygen.configure(quota_exceeded=True, quota_http_status=status)
    with pytest.raises(ProviderQuotaError) as caught:
        await api.new_session(avatar_id="anna")
    assert caught.value.status == status
    assert caught.value.reason == "quota_exceeded"
    assert not caught.value.retryable


async def test_an_unknown_avatar_is_not_found(heygen: HeyGenServer, api: HeyGenAPI) -> None:
    heygen.configure(avatars=["anna"])
    with pytest.raises(ProviderNotFound) as caught:
        await api.new_session(avatar_id="bob")
    assert caught.value.provider_code == 10013


async def test_invalid_parameters_are_refused(api: HeyGenAPI) -> None:
    with pytest.raises(ProviderInvalidRequest) as caught:
        await api.new_session(avatar_id="anna", extra={"quality": "ultra"})
    assert caught.value.provider_code == 400175
    with pytest.raises(ValueError):
        await api.new_session(avatar_id="anna", activity_idle_timeout=5)
    with pytest.raises(ValueError):
        HeyGenVoice(rate=3.0)


async def test_wrong_credentials_are_an_auth_error(heygen: HeyGenServer) -> None:
    api = HeyGenAPI(api_key="wrong", base_url=heygen.base_url)
    try:
        with pytest.raises(ProviderAuthError) as caught:
            await api.create_token()
    finally:
        await api.aclose()
    assert (caught.value.status, caught.value.provider_code) == (401, 40009)


async def test_a_session_token_creates_one_session_and_drives_only_it(
    heygen: HeyGenServer, api: HeyGenAPI
) -> None:
    token = await api.create_token()
    browser = HeyGenAPI(api_key=token, base_url=heygen.base_url, auth="bearer")
    other = await api.new_session(avatar_id="anna")
    try:
        mine = await browser.new_session(avatar_id="anna")
        await browser.start(mine.session_id)
        await browser.task(mine.session_id, "Mine.", task_type="talk", task_mode="async")
        with pytest.raises(ProviderAuthError):
            await browser.new_session(avatar_id="anna")
        with pytest.raises(ProviderAuthError):
            await browser.start(other.session_id)
        with pytest.raises(ProviderAuthError):
            await browser.list_v1()
    finally:
        await browser.aclose()


async def test_server_errors_rate_limits_and_hangs_are_typed(heygen: HeyGenServer) -> None:
    api = HeyGenAPI(api_key=KEY, base_url=heygen.base_url, timeout_s=0.2)
    try:
        heygen.configure(fail_next=1, fail_status=502)
        with pytest.raises(ProviderUnavailable) as unavailable:
            await api.list_v1()
        assert unavailable.value.retryable and unavailable.value.reason == "connection_failed"
        heygen.configure(rate_limit_next=1, retry_after_s=2.5)
        with pytest.raises(ProviderRateLimited) as limited:
            await api.list_v1()
        assert limited.value.retry_after_s == 2.5
        heygen.configure(hang_next=1, hang_s=5)
        with pytest.raises(ProviderTimeout):
            await api.list_v1()
        assert await api.list_v1() == []
    finally:
        await api.aclose()


async def test_faults_can_target_one_endpoint(heygen: HeyGenServer, api: HeyGenAPI) -> None:
    session = await api.new_session(avatar_id="anna")
    await api.start(session.session_id)
    heygen.configure(fail_next=1, fault_paths=["keep_alive"])
    await api.task(session.session_id, "Still fine.")
    with pytest.raises(ProviderUnavailable):
        await api.keep_alive(session.session_id)
    await api.keep_alive(session.session_id)


async def test_an_unreachable_server_is_unavailable() -> None:
    api = HeyGenAPI(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}", timeout_s=1)
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await api.list_v1()
    finally:
        await api.aclose()
    assert caught.value.status is None


async def test_a_success_status_without_the_promised_body_is_a_protocol_error() -> None:
    async def garbage(request: object) -> PlainTextResponse:
        return PlainTextResponse("<html>maintenance</html>")

    async def no_session(request: object) -> PlainTextResponse:
        return PlainTextResponse('{"code": 100, "message": "success", "data": {}}')

    app = Starlette(
        routes=[
            Route("/v1/streaming.list", garbage),
            Route("/v1/streaming.new", no_session, methods=["POST"]),
        ]
    )
    with serve(app) as server:
        api = HeyGenAPI(api_key=KEY, base_url=server.base_url)
        try:
            with pytest.raises(ProviderError) as listed:
                await api.list_v1()
            with pytest.raises(ProviderProtocolError):
                await api.new_session(avatar_id="anna")
        finally:
            await api.aclose()
    assert listed.value.status == 200


async def test_v1_lists_open_sessions_and_v2_pages_through_history(
    heygen: HeyGenServer, api: HeyGenAPI
) -> None:
    ids = [(await api.new_session(avatar_id=f"avatar-{n}")).session_id for n in range(5)]
    await api.stop(ids[0])
    assert {s.session_id for s in await api.list_v1()} == set(ids[1:])

    first = await api.list_v2(page_size=2)
    assert (first.total, first.page, first.page_size, len(first.sessions)) == (5, 1, 2, 2)
    assert first.next_token is not None
    everything = await api.list_v2_all(page_size=2)
    assert [s.session_id for s in everything] == ids
    assert everything[0].status == "closed"
    assert everything[1].avatar_id == "avatar-1"
    assert len(heygen.fake.requests("/v2/streaming.list")) == 1 + 3


async def test_aclose_is_idempotent_and_final(heygen: HeyGenServer) -> None:
    api = HeyGenAPI(api_key=KEY, base_url=heygen.base_url)
    await api.aclose()
    await api.aclose()
    with pytest.raises(VisavisError):
        await api.list_v1()


def test_a_client_needs_a_key_and_a_positive_timeout() -> None:
    with pytest.raises(ValueError):
        HeyGenAPI(api_key="")
    with pytest.raises(ValueError):
        HeyGenAPI(api_key=KEY, timeout_s=0)


def test_tokens_stay_out_of_reprs() -> None:
    from visavis.avatars.heygen.api import HeyGenSession

    session = HeyGenSession(session_id="s", url="wss://x", access_token="secret-token")
    assert "secret-token" not in repr(session)
