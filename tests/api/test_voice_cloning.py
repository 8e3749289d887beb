"""Cloning jobs over REST against the fake ElevenLabs: consent first, progress, retry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import TEST_SECRET, TenantFactory
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.voices.audio import reading, room, webm_opus
from visavis.config import Settings
from visavis.context import AppContext

CONSENT = "I agree that Visavis may clone my voice for my own digital twin."


@pytest.fixture(scope="module")
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


async def test_a_voice_is_cloned_after_consent_and_a_failed_job_is_retried(
    client: httpx.AsyncClient,
    make_tenant: TenantFactory,
    ctx: AppContext,
    elevenlabs: tuple[FakeElevenLabs, str],
) -> None:
    fake, _ = elevenlabs
    fake.fail_status = None
    acme, other = await make_tenant("acme"), await make_tenant("other")
    voice = (await client.post("/v1/voices", json={"name": "Maya"}, headers=acme.headers)).json()
    url = f"/v1/voices/{voice['id']}"
    sample = webm_opus(room(reading()))
    early = await client.post(f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers)
    assert early.status_code == 422 and "consent" in early.json()["detail"]
    await client.put(
        f"{url}/consent", json={"person_name": "Maya", "text": CONSENT}, headers=acme.headers
    )
    few = await client.post(f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers)
    assert few.status_code == 422 and "0 of 5 samples" in few.json()["detail"]
    for _ in range(5):
        added = await client.post(f"{url}/samples", content=sample, headers=acme.headers)
        assert added.status_code == 201
    unknown = await client.post(f"{url}/clone", json={"backend": "gptsovits"}, headers=acme.headers)
    assert unknown.status_code == 422 and "elevenlabs" in unknown.json()["detail"]
    foreign = await client.post(
        f"{url}/clone", json={"backend": "elevenlabs"}, headers=other.headers
    )
    assert foreign.status_code == 404

    fake.fail_status = 503
    started = await client.post(
        f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers
    )
    assert started.status_code == 202 and started.json()["status"] == "queued"
    assert ctx.cloning is not None
    await ctx.cloning.wait(uuid.UUID(voice["id"]))
    failed = (await client.get(url, headers=acme.headers)).json()
    assert failed["status"] == "failed" and "start the job again later" in failed["error"]
    assert len(failed["samples"]) == 5  # nothing to record again

    fake.fail_status = None
    await client.post(f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers)
    await ctx.cloning.wait(uuid.UUID(voice["id"]))
    ready = (await client.get(url, headers=acme.headers)).json()
    assert ready["status"] == "ready" and ready["progress"] == 1.0 and ready["attempts"] == 2
    assert ready["error"] is None and ready["provider_voice_id"] in fake.voices
    assert fake.voices[ready["provider_voice_id"]]["files"] == 5
