"""LiveAvatar as a provider against its fake: LITE audio over the socket, FULL via the relay."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.avatars.tone_voice import ToneVoice
from tests.fakes.liveavatar import LiveAvatarServer
from visavis.avatars.base import FaceEvent, ProviderSession, SessionRequest
from visavis.avatars.errors import ProviderProtocolError, ProviderSessionStateError
from visavis.avatars.liveavatar.api import LiveAvatarAPI
from visavis.avatars.liveavatar.provider import LiveAvatarOptions, LiveAvatarProvider
from visavis.avatars.liveavatar.socket import LiteSocket

KEY = "test-liveavatar-key"
AVATAR = "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01"


def build(server: LiveAvatarServer, **options: object) -> LiveAvatarProvider:
    api = LiveAvatarAPI(api_key=KEY, base_url=server.base_url, timeout_s=2)
    return LiveAvatarProvider(api, LiveAvatarOptions(**options), tts=ToneVoice())  # type: ignore[arg-type]


@pytest.fixture
async def lite(liveavatar: LiveAvatarServer) -> AsyncIterator[LiveAvatarProvider]:
    provider = build(liveavatar)
    yield provider
    await provider.aclose()


async def started(provider: LiveAvatarProvider) -> ProviderSession:
    session = await provider.create_session(SessionRequest(avatar_id=AVATAR, quality="high"))
    await provider.start(session)
    return session


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait for a condition the fake's state reaches from another thread."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def no_sink(message: str) -> None:
    raise AssertionError("LITE mode relays nothing through the browser")


async def test_lite_streams_our_audio_in_600_ms_then_1_s_chunks(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    liveavatar.configure(playback_rate=20.0)  # the face plays 3.6 s of audio in 0.2 s
    session = await started(lite)
    assert session.media is not None and session.media["avatar_identity"] == "heygen"
    assert "control_topic" not in session.media
    events: list[FaceEvent] = []
    lite.set_listener(session, events.append)
    text = "A sentence of about three seconds, spoken by our own voice."
    result = await lite.speak(session, text, sink=no_sink)
    expected_s = len(text) * 0.060
    assert result.duration_ms == pytest.approx(expected_s * 1000, abs=5)
    await until(lambda: any(e.kind == "speak_ended" for e in events))
    (utterance,) = liveavatar.fake.session(session.session_id)["utterances"]
    sizes = utterance["chunk_bytes"]
    assert sizes[0] == 24000 * 2 * 600 // 1000
    assert all(size == 48000 for size in sizes[1:-1]) and 0 < sizes[-1] <= 48000
    assert utterance["seconds"] == pytest.approx(expected_s, abs=0.01)
    assert utterance["ended"] and utterance["finished"] and not utterance["interrupted"]
    assert [e.kind for e in events] == ["speak_started", "speak_ended"]
    assert {e.utterance_id for e in events} == {utterance["event_id"]}
    assert liveavatar.fake.session(session.session_id)["violations"] == []
    # Base64 audio hardly compresses: deflating it was most of each chunk's cost.
    assert liveavatar.fake.session(session.session_id)["socket_extensions"] is None
    request = liveavatar.fake.requests("/v1/sessions/token")[0]["json"]
    assert request == {"mode": "LITE", "avatar_id": AVATAR, "video_settings": {"quality": "high"}}


async def test_audio_at_another_rate_is_resampled_to_24_khz(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    session = await started(lite)
    await lite.begin_utterance(session)
    one_second_16k = b"\x10\x00" * 16000
    await lite.push_audio(session, one_second_16k, 16000)
    assert await lite.end_utterance(session) == pytest.approx(1.0, abs=0.001)

    def ended() -> bool:
        utterances = liveavatar.fake.session(session.session_id)["utterances"]
        return bool(utterances) and bool(utterances[0]["ended"])

    await until(ended)
    (utterance,) = liveavatar.fake.session(session.session_id)["utterances"]
    assert sum(utterance["chunk_bytes"]) == pytest.approx(48000, abs=4)


async def test_interrupt_mid_utterance_stops_the_face_and_sending(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    session = await started(lite)
    events: list[FaceEvent] = []
    lite.set_listener(session, events.append)
    await lite.begin_utterance(session)
    await lite.push_audio(session, b"\x01\x00" * 24000 * 2, 24000)  # 2 s, the rest waits
    await lite.interrupt(session)
    await until(lambda: any(e.kind == "speak_interrupted" for e in events))
    with pytest.raises(ProviderSessionStateError):
        await lite.push_audio(session, b"\x01\x00" * 100, 24000)  # a new utterance is needed
    (utterance,) = liveavatar.fake.session(session.session_id)["utterances"]
    assert utterance["interrupted"] and not utterance["finished"]
    assert sum(utterance["chunk_bytes"]) < 24000 * 2 * 2


async def test_messages_before_connected_are_dropped_by_the_fake(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    liveavatar.configure(connect_delay_s=0.3)
    session = await lite.create_session(SessionRequest(avatar_id=AVATAR))
    url = lite._ws_urls[session.session_id]
    async with connect(url) as raw:
        await raw.send(json.dumps({"type": "session.keep_alive", "event_id": "early"}))
        await asyncio.sleep(0.05)
    assert liveavatar.fake.session(session.session_id)["dropped_before_connected"] == 1
    # Our client waits for "connected" before it sends anything.
    socket = LiteSocket(url)
    await socket.connect()
    await socket.keep_alive()
    await until(lambda: liveavatar.fake.session(session.session_id)["keep_alives"] == 1)
    await socket.close()
    await socket.close()


async def test_keep_alive_goes_over_the_socket_and_idle_sessions_close_it(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    session = await started(lite)
    events: list[FaceEvent] = []
    lite.set_listener(session, events.append)
    await lite.keep_alive(session)
    await until(lambda: liveavatar.fake.session(session.session_id)["keep_alives"] == 1)
    assert liveavatar.fake.requests("keep-alive") == []
    liveavatar.configure(advance_clock_s=301)
    await until(lambda: any(e.kind == "closed" for e in events))
    # Said once, with the provider's reason (not the "closing" state that comes before it).
    assert [e.detail for e in events if e.kind == "closed"] == ["IDLE_TIMEOUT"]
    with pytest.raises(ProviderSessionStateError):
        await lite.keep_alive(session)


async def test_an_oversized_message_is_refused_before_sending(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    session = await started(lite)
    channel = lite.channel_of(session)
    with pytest.raises(ProviderProtocolError):
        await channel.send_audio("u1", b"\x00\x00" * 400_000)  # 800 kB → over 1 MB in base64
    assert liveavatar.fake.session(session.session_id)["utterances"] == []
    # The fake itself refuses one too.
    big = base64.b64encode(b"\x00" * 800_000).decode()
    second = await lite.create_session(SessionRequest(avatar_id=AVATAR))
    async with connect(lite._ws_urls[second.session_id], max_size=None) as raw:
        while json.loads(await raw.recv()).get("state") != "connected":
            pass
        await raw.send(json.dumps({"type": "agent.speak", "event_id": "e", "audio": big}))
        assert json.loads(await raw.recv())["type"] == "error"
    kinds = [v["kind"] for v in liveavatar.fake.session(second.session_id)["violations"]]
    assert kinds == ["message_too_large"]


async def test_full_mode_speaks_through_the_browser_relay(liveavatar: LiveAvatarServer) -> None:
    provider = build(liveavatar, mode="FULL", context_id="ctx-1", voice_id="v-1")
    relayed: list[str] = []

    async def browser(packet: str) -> None:
        # What the page does: publish on agent-control (here: the fake's stand-in).
        relayed.append(packet)
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{liveavatar.base_url}/_fake/datachannel/{session.session_id}", content=packet
            )
        assert answer.json()["accepted"], answer.text

    try:
        session = await started(provider)
        assert session.media is not None
        assert session.media["control_topic"] == "agent-control"
        assert provider._audio == {}  # no socket in FULL mode
        await provider.speak(session, "Hello there.", sink=browser)
        await provider.interrupt(session, sink=browser)
        await provider.keep_alive(session)
        assert [json.loads(p)["event_type"] for p in relayed] == [
            "avatar.speak_text",
            "avatar.interrupt",
        ]
        state = liveavatar.fake.session(session.session_id)
        assert [u["text"] for u in state["utterances"]] == ["Hello there."]
        assert state["keep_alives"] == 1
        body = liveavatar.fake.requests("/v1/sessions/token")[0]["json"]
        assert body["avatar_persona"] == {
            "context_id": "ctx-1",
            "language": "en",
            "voice_id": "v-1",
        }
        assert provider.billing.cost_microusd(streamed_s=61) == 2 * 2 * 100_000
        assert await provider.stop(session.session_id) is True
    finally:
        await provider.aclose()


def test_full_mode_needs_a_context() -> None:
    with pytest.raises(ValueError, match="context_id"):
        LiveAvatarOptions(mode="FULL")


async def test_billing_escrows_the_first_minute_and_sandbox_is_free(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    assert lite.billing.cost_microusd(streamed_s=5) == 100_000  # one LITE minute, $0.10
    assert lite.billing.cost_microusd(streamed_s=121) == 300_000
    sandbox = build(liveavatar, sandbox=True)
    try:
        session = await started(sandbox)
        assert sandbox.billing.cost_microusd(streamed_s=50) == 0
        assert liveavatar.fake.requests("/v1/sessions/token")[0]["json"]["is_sandbox"] is True
        assert sandbox.limits.max_session_s == 60.0
        assert await sandbox.stop(session.session_id) is True
    finally:
        await sandbox.aclose()


async def test_stop_closes_the_socket_and_the_session_once(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    session = await started(lite)
    assert [s.session_id for s in await lite.list_active()] == [session.session_id]
    assert await lite.stop(session.session_id) is True
    assert await lite.stop(session.session_id) is False
    await until(lambda: not liveavatar.fake.session(session.session_id)["socket_connected"])
    assert await lite.list_active() == []
    assert liveavatar.fake.session(session.session_id)["end_reason"] == "USER_CLOSED"


async def test_our_stop_reason_becomes_liveavatars_end_reason(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    gone = await started(lite)
    assert await lite.stop(gone.session_id, reason="client_gone") is True
    orphan = await started(lite)
    assert await lite.stop(orphan.session_id, reason="orphaned_at_provider") is True
    reasons = [r["json"]["reason"] for r in liveavatar.fake.requests("/v1/sessions/stop")]
    assert reasons == ["USER_DISCONNECTED", "ZOMBIE_SESSION_REAP"]
    assert liveavatar.fake.session(orphan.session_id)["end_reason"] == "ZOMBIE_SESSION_REAP"


async def test_credit_running_out_closes_the_socket_with_no_credits(
    liveavatar: LiveAvatarServer, lite: LiveAvatarProvider
) -> None:
    liveavatar.configure(credits=2.0)
    session = await started(lite)  # one credit escrowed for the first minute
    events: list[FaceEvent] = []
    lite.set_listener(session, events.append)
    await lite.keep_alive(session)
    liveavatar.configure(advance_clock_s=61)  # the second minute is paid with the last credit
    await lite.keep_alive(session)
    await until(lambda: liveavatar.fake.session(session.session_id)["keep_alives"] == 2)
    liveavatar.configure(advance_clock_s=60)  # the third minute finds no credit
    await until(lambda: any(e.kind == "closed" for e in events))
    assert events[-1].detail == "NO_CREDITS"
    with pytest.raises(ProviderSessionStateError):  # the speech output falls back on this
        await lite.speak(session, "Anyone there?", sink=no_sink)
    assert liveavatar.fake.session(session.session_id)["credits_consumed"] == 2
