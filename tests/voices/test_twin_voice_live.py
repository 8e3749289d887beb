"""A cloned voice against the fake ElevenLabs. A twin with it, live on the conversation
WebSocket, speaks with that voice; when the service is slow or down, the bundled voice says the
sentence, the client is told (``speech_voice``, a ``degraded`` state) and nothing is lost. The
OpenAI-compatible speech API speaks with it when asked for it by id."""

from __future__ import annotations

import contextlib
import io
import uuid
import wave
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import TEST_SECRET
from tests.conversation.live_client import LiveClient, start_conversation
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.live_server import ServerFactory
from visavis.config import Settings
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.repositories.voices import VoiceRepository

FACTS = (
    '{"statement": "My cat is called Pastel, after the custard tarts.", "subject": "pet"}\n'
    '{"statement": "I play the bass guitar in a small jazz band.", "subject": "music"}\n'
    '{"statement": "I drink my coffee black, three cups a day.", "subject": "coffee"}\n'
)


@pytest.fixture
def elevenlabs() -> Iterator[tuple[FakeElevenLabs, str]]:
    fake = FakeElevenLabs()
    with fake.serve() as url:
        yield fake, url


@pytest.fixture
def maya(elevenlabs: tuple[FakeElevenLabs, str]) -> FakeElevenLabs:
    """The fake service holding the voice a finished cloning job left there."""
    fake, _ = elevenlabs
    fake.voices["maya-clone"] = {"name": "Maya", "files": 5, "seconds": 150.0}
    return fake


@pytest.fixture
def settings(database_url: str, elevenlabs: tuple[FakeElevenLabs, str]) -> Settings:
    fake, url = elevenlabs
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        elevenlabs_api_key=fake.api_key,
        elevenlabs_base_url=url,
    )


async def ready_voice(database_url: str, tenant_id: str, profile_id: str, voice_id: str) -> None:
    """What a finished cloning job leaves (the job itself: tests/api/test_voice_cloning.py)."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            await VoiceRepository(session, uuid.UUID(tenant_id)).set_job_state(
                uuid.UUID(profile_id),
                status="ready",
                backend="elevenlabs",
                provider_voice_id=voice_id,
                progress=1.0,
            )
            await session.commit()
    finally:
        await engine.dispose()


async def ask(client: LiveClient, question: str) -> tuple[int, str]:
    before = len(client.received)
    await client.send({"type": "user_text", "text": question})
    await client.wait_for("turn_end", after=before)
    sentences = [
        r.message["text"]
        for r in client.received[before:]
        if r.message and r.message["type"] == "sentence"
    ]
    assert any(r.frame for r in client.received[before:])
    return before, " ".join(sentences)


async def test_a_twin_speaks_with_its_cloned_voice_and_falls_back_when_it_is_slow(
    live_server: ServerFactory, settings: Settings, maya: FakeElevenLabs
) -> None:
    fake = maya
    server = live_server()
    tenant, other = await server.tenant("acme"), await server.tenant("other")
    async with httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http:
        profile = (await http.post("/v1/voices", json={"name": "Maya"})).json()["id"]
        foreign = await http.post(
            "/v1/twins", json={"name": "Maya", "voice": profile}, headers=other.headers
        )
        assert foreign.status_code == 404  # another tenant's voice profile
        assert (await http.get("/v1/twins", headers=other.headers)).json()["items"] == []
        twin = (await http.post("/v1/twins", json={"name": "Maya", "voice": profile})).json()
        assert twin["voice"] == profile
        await http.post(
            f"/v1/twins/{twin['id']}/memory/import",
            content=FACTS.encode(),
            headers={"content-type": "application/x-ndjson"},
        )
    await ready_voice(settings.database_url, tenant.tenant_id, profile, "maya-clone")

    conversation_id, token = await start_conversation(
        server.base_url, tenant.key, {"agent": "twin", "twin": twin["id"]}
    )
    client = LiveClient(server.base_url, conversation_id, token)
    await client.connect()
    await client.wait_for("state", state="listening")
    _, answer = await ask(client, "What is your cat called?")
    assert "Pastel" in answer
    assert client.messages("speech_voice") == []
    assert any("Pastel" in said for said in fake.spoken)  # the cloned voice said it

    fake.speech_delay_s = 1.5  # first audio later than 1 s
    spoken_before = len(fake.spoken)
    before, answer = await ask(client, "What instrument do you play?")
    assert "bass guitar" in answer  # spoken all the same, by the bundled voice
    switch = await client.wait_for("speech_voice", after=before)
    assert switch["voice"] == "bundled" and switch["reason"] == "voice_slow"
    assert "bundled voice speaks instead" in switch["message"]
    degraded = await client.wait_for("state", after=before, degraded=True)
    assert degraded["reason"] == "voice_slow"
    ends = [m for m in client.messages("utterance_end")]
    assert ends and not any(m.get("interrupted") for m in ends)
    assert len(fake.spoken) > spoken_before
    tried = len(fake.spoken)
    _, answer = await ask(client, "How do you take your coffee?")
    assert "black" in answer
    assert len(fake.spoken) == tried  # a slow service is left alone for a while
    await client.close()


async def test_with_the_cloning_service_down_the_twin_speaks_with_the_bundled_voice(
    live_server: ServerFactory, settings: Settings, maya: FakeElevenLabs
) -> None:
    fake = maya
    fake.speech_fail_status = 503
    server = live_server()
    tenant = await server.tenant("acme")
    async with httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http:
        profile = (await http.post("/v1/voices", json={"name": "Maya"})).json()["id"]
        twin = (await http.post("/v1/twins", json={"name": "Maya", "voice": profile})).json()
        await http.post(
            f"/v1/twins/{twin['id']}/memory/import",
            content=FACTS.encode(),
            headers={"content-type": "application/x-ndjson"},
        )
    await ready_voice(settings.database_url, tenant.tenant_id, profile, "maya-clone")
    conversation_id, token = await start_conversation(
        server.base_url, tenant.key, {"agent": "twin", "twin": twin["id"]}
    )
    client = LiveClient(server.base_url, conversation_id, token)
    await client.connect()
    await client.wait_for("state", state="listening")
    before, answer = await ask(client, "What is your cat called?")
    assert "Pastel" in answer
    switch = await client.wait_for("speech_voice", after=before)
    assert switch["voice"] == "bundled" and switch["reason"] == "voice_unavailable"
    assert "503" in switch["message"]
    degraded = await client.wait_for("state", after=before, degraded=True)
    assert degraded["reason"] == "voice_unavailable"
    await client.close()


async def test_the_speech_api_speaks_with_a_cloned_voice_asked_for_by_id(
    live_server: ServerFactory, settings: Settings, maya: FakeElevenLabs
) -> None:
    fake = maya
    server = live_server()
    tenant, other = await server.tenant("acme"), await server.tenant("other")
    async with (
        contextlib.AsyncExitStack() as stack,
        httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http,
    ):
        profile = (await http.post("/v1/voices", json={"name": "Maya"})).json()["id"]
        speak = {"model": "tts-1", "input": "Hello there.", "response_format": "wav"}
        early = await http.post("/v1/audio/speech", json={**speak, "voice": profile})
        assert early.status_code == 409
        assert early.headers["content-type"] == "application/problem+json"
        assert early.json()["code"] == "voice_not_ready"
        assert "'Maya' is not ready" in early.json()["detail"]
        await ready_voice(settings.database_url, tenant.tenant_id, profile, "maya-clone")

        sdk = openai.AsyncOpenAI(
            base_url=f"{server.base_url}/v1", api_key=tenant.key, max_retries=0
        )
        await stack.enter_async_context(sdk)
        sentence = "My cat is called Pastel, after the custard tarts."
        speech = await sdk.audio.speech.create(
            model="tts-1", voice={"id": profile}, input=sentence, response_format="wav"
        )
        with wave.open(io.BytesIO(speech.read())) as wav:
            assert wav.getframerate() == 24000 and wav.getnframes() / 24000 > 1.5
        assert fake.spoken == [sentence]  # the cloned voice said it
        by_name = await http.post("/v1/audio/speech", json={**speak, "voice": profile})
        assert by_name.status_code == 200 and fake.spoken[-1] == "Hello there."
        cues = await http.post(
            "/v1/audio/speech",
            json={**speak, "voice": {"id": profile}, "response_format": "visavis.visemes"},
        )
        assert cues.status_code == 200 and cues.json()["mouth_cues"]
        spoken = len(fake.spoken)
        await sdk.audio.speech.create(model="tts-1", voice="alloy", input="Hello there.")
        assert len(fake.spoken) == spoken  # a voice name is the instance's own voice

        foreign = await http.post(
            "/v1/audio/speech", json={**speak, "voice": profile}, headers=other.headers
        )
        unknown = await http.post("/v1/audio/speech", json={**speak, "voice": str(uuid.uuid4())})
        assert foreign.status_code == unknown.status_code == 404
        assert len(fake.spoken) == spoken

        fake.speech_fail_status = 503
        down = await http.post(
            "/v1/audio/speech", json={**speak, "voice": profile, "input": "Goodbye for now."}
        )
        assert down.status_code == 502
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["code"] == "voice_unavailable"
        assert "any other voice name" in down.json()["detail"]

        fake.speech_fail_status, fake.speech_break_after = None, 1
        broken = await http.post(
            "/v1/audio/speech",
            json={
                **speak,
                "voice": profile,
                "input": "I play the bass guitar in a small jazz band on Fridays.",
                "response_format": "pcm",
                "stream_format": "sse",
            },
        )
        # Cut off after its first part: what was said went out, then an error event.
        assert broken.status_code == 200
        kinds = [line for line in broken.text.splitlines() if line.startswith("event: ")]
        assert kinds[0] == "event: speech.audio.delta" and kinds[-1] == "event: error"
        assert "event: speech.audio.done" not in kinds
        assert "the cloned voice's service failed" in broken.text


async def test_without_a_cloning_service_a_voice_id_is_a_clear_error(
    live_server: ServerFactory,
) -> None:
    server = live_server(elevenlabs_api_key=None)
    tenant = await server.tenant("acme")
    async with httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http:
        profile = (await http.post("/v1/voices", json={"name": "Maya"})).json()["id"]
        answer = await http.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "input": "Hello.", "voice": {"id": profile}},
        )
    assert answer.status_code == 503
    assert answer.json()["code"] == "voice_backend_unavailable"
    assert "any other voice name" in answer.json()["detail"]
