"""Simli against its fake: a token, the socket's media, our audio at 16 kHz, SKIP and DONE."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.avatars.conftest import until
from tests.avatars.tone_voice import ToneVoice
from tests.fakes.simli import SimliServer
from visavis.avatars.base import FaceEvent, ProviderSession, SessionRequest
from visavis.avatars.errors import (
    ProviderAuthError,
    ProviderInvalidRequest,
    ProviderSessionStateError,
)
from visavis.avatars.simli.api import SimliAPI
from visavis.avatars.simli.provider import SimliOptions, SimliProvider

KEY = "test-simli-key"
FACE = "tmp9i8bbq7c"


@pytest.fixture
async def provider(simli: SimliServer) -> AsyncIterator[SimliProvider]:
    built = SimliProvider(
        SimliAPI(api_key=KEY, base_url=simli.base_url, timeout_s=2),
        SimliOptions(max_idle_s=60, start_timeout_s=2),
        tts=ToneVoice(),
    )
    yield built
    await built.aclose()


async def started(provider: SimliProvider) -> ProviderSession:
    session = await provider.create_session(SessionRequest(avatar_id=FACE))
    await provider.start(session)
    return session


async def relay_nothing(message: str) -> None:
    raise AssertionError("Simli relays nothing through the browser")


async def test_a_sentence_is_our_audio_resampled_to_16_khz_in_100_ms_frames(
    simli: SimliServer, provider: SimliProvider
) -> None:
    simli.configure(playback_rate=50.0)
    session = await started(provider)
    assert session.media is not None and session.media["url"].startswith("wss://fake-simli")
    events: list[FaceEvent] = []
    provider.set_listener(session, events.append)
    text = "Simli moves its lips to our voice."
    result = await provider.speak(session, text, sink=relay_nothing)
    assert result.duration_ms == pytest.approx(len(text) * 60, abs=5)
    # Faster than real time the buffer may run dry between frames: SPEAK/SILENT may repeat.
    await until(lambda: bool(events) and events[-1].kind == "speak_ended")
    assert events[0].kind == "speak_started"
    (held,) = simli.fake.open_sessions()
    assert held["frames"][0] == 3200 and all(size <= 3200 for size in held["frames"])
    assert held["audio_s"] == pytest.approx(len(text) * 0.060, abs=0.01)
    assert held["violations"] == []
    assert held["request"]["audioInputFormat"] == "pcm16"
    assert held["request"]["maxIdleTime"] == 60


async def test_interrupt_sends_skip_and_the_face_stops(
    simli: SimliServer, provider: SimliProvider
) -> None:
    session = await started(provider)
    events: list[FaceEvent] = []
    provider.set_listener(session, events.append)
    await provider.begin_utterance(session)
    await provider.push_audio(session, b"\x05\x00" * 16000 * 2, 16000)
    await provider.interrupt(session)
    await until(lambda: any(e.kind == "speak_interrupted" for e in events))
    assert simli.fake.open_sessions()[0]["skips"] == 1


async def test_stop_plays_nothing_more_and_closes_the_session(
    simli: SimliServer, provider: SimliProvider
) -> None:
    session = await started(provider)
    await provider.keep_alive(session)  # a tenth of a second of silence
    await until(lambda: simli.fake.open_sessions()[0]["frames"] == [3200])
    assert await provider.stop(session.session_id) is True
    assert await provider.stop(session.session_id) is False
    await until(lambda: simli.fake.open_sessions() == [])
    (held,) = simli.fake.all_sessions()
    assert held["done"] and held["skips"] == 1
    with pytest.raises(ProviderSessionStateError):
        await provider.keep_alive(session)


async def test_a_dropped_socket_ends_the_session_at_simli(
    simli: SimliServer, provider: SimliProvider
) -> None:
    session = await started(provider)
    await provider.channel_of(session).close()  # as a crash would
    await until(lambda: simli.fake.open_sessions() == [])
    assert simli.fake.all_sessions()[0]["end_reason"] == "USER_DISCONNECTED"
    assert await provider.list_active() == []


async def test_idle_sessions_are_closed_by_simli(
    simli: SimliServer, provider: SimliProvider
) -> None:
    session = await started(provider)
    events: list[FaceEvent] = []
    provider.set_listener(session, events.append)
    simli.configure(advance_clock_s=61)
    await until(lambda: any(e.kind == "closed" for e in events))
    assert "MAX_IDLE_TIME" in (events[-1].detail or "")


async def test_refusals_are_typed(simli: SimliServer, provider: SimliProvider) -> None:
    with pytest.raises(ProviderInvalidRequest, match="face not found"):
        await provider.create_session(SessionRequest(avatar_id="no-such-face"))
    wrong = SimliAPI(api_key="wrong", base_url=simli.base_url)
    try:
        with pytest.raises(ProviderAuthError):
            await wrong.create_token(face_id=FACE, max_session_s=60, max_idle_s=60)
    finally:
        await wrong.aclose()


async def test_faces_are_listed_and_billing_is_per_second_used(provider: SimliProvider) -> None:
    faces = await provider.list_avatars()
    assert [f.avatar_id for f in faces][:1] == [FACE] and faces[0].provider == "simli"
    assert provider.billing.cost_microusd(streamed_s=30.2) == round(31 * 0.05 / 60 * 1e6)
