"""A twin with a cloned voice, live on the conversation WebSocket, against the fake ElevenLabs:
it speaks with that voice; when the service is slow or down, the bundled voice says the
sentence, the client is told (``speech_voice``, a ``degraded`` state) and nothing is lost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
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
    live_server: ServerFactory, settings: Settings, elevenlabs: tuple[FakeElevenLabs, str]
) -> None:
    fake, _ = elevenlabs
    fake.voices["maya-clone"] = {"name": "Maya", "files": 5, "seconds": 150.0}
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
    live_server: ServerFactory, settings: Settings, elevenlabs: tuple[FakeElevenLabs, str]
) -> None:
    fake, _ = elevenlabs
    fake.voices["maya-clone"] = {"name": "Maya", "files": 5, "seconds": 150.0}
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
