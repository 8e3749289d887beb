"""Cloning jobs over REST against the fake ElevenLabs: consent first, progress, retry."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import TEST_SECRET, TenantFactory
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.voices.audio import reading, room, webm_opus
from visavis.config import Settings
from visavis.context import AppContext
from visavis.db.base import utcnow
from visavis.db.models import VoiceProfile
from visavis.db.tenant_scope import scope_to_tenant

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


async def consent_and_samples(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
    """The speaker's consent and five samples: the voice can be cloned."""
    await client.put(
        f"{url}/consent", json={"person_name": "Maya", "text": CONSENT}, headers=headers
    )
    sample = webm_opus(room(reading()))
    for _ in range(5):
        assert (await client.post(f"{url}/samples", content=sample, headers=headers)).is_success


def events(response: httpx.Response) -> list[dict[str, object]]:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


async def test_a_job_is_followed_as_ndjson_from_queued_to_ready_or_failed(
    client: httpx.AsyncClient,
    make_tenant: TenantFactory,
    ctx: AppContext,
    elevenlabs: tuple[FakeElevenLabs, str],
) -> None:
    fake, _ = elevenlabs
    acme = await make_tenant("acme")
    voice = (await client.post("/v1/voices", json={"name": "Maya"}, headers=acme.headers)).json()
    url = f"/v1/voices/{voice['id']}"
    none_yet = await client.get(f"{url}/jobs/latest/events", headers=acme.headers)
    assert none_yet.status_code == 404
    assert none_yet.headers["content-type"] == "application/problem+json"
    assert "no cloning job" in none_yet.json()["detail"]
    await consent_and_samples(client, url, acme.headers)

    fake.fail_status, fake.add_delay_s = None, 0.3
    await client.post(f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers)
    first = events(await client.get(f"{url}/jobs/latest/events", headers=acme.headers))
    assert [e["event"] for e in first][-1] == "result" and first[-1]["status"] == "ready"
    assert {e["status"] for e in first[:-1]} <= {"queued", "running"} and len(first) >= 3
    progress = [float(str(e["progress"])) for e in first]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert first[-1]["provider_voice_id"] in fake.voices and first[-1]["job"] == 1

    fake.fail_status = 503
    await client.post(f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers)
    second = events(await client.get(f"{url}/jobs/2/events", headers=acme.headers))
    assert second[-1]["event"] == "error" and second[-1]["retry"] is True
    assert "503" in str(second[-1]["error"]) and second[-1]["job"] == 2
    old = await client.get(f"{url}/jobs/1/events", headers=acme.headers)
    assert old.status_code == 404 and "only the latest" in old.json()["detail"]
    bad = await client.get(f"{url}/jobs/first/events", headers=acme.headers)
    assert bad.status_code == 422
    fake.fail_status, fake.add_delay_s = None, 0.0
    assert ctx.cloning is not None
    await ctx.cloning.wait(uuid.UUID(voice["id"]))


async def test_a_job_cut_by_a_crash_or_a_stop_shows_failed_and_starts_again(
    client: httpx.AsyncClient,
    make_tenant: TenantFactory,
    ctx: AppContext,
    elevenlabs: tuple[FakeElevenLabs, str],
) -> None:
    fake, _ = elevenlabs
    fake.fail_status, fake.add_delay_s = None, 0.0
    acme = await make_tenant("acme")
    voice = (await client.post("/v1/voices", json={"name": "Maya"}, headers=acme.headers)).json()
    voice_id, url = uuid.UUID(voice["id"]), f"/v1/voices/{voice['id']}"
    await consent_and_samples(client, url, acme.headers)
    assert ctx.cloning is not None
    await client.post(f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers)
    await ctx.cloning.wait(voice_id)

    # The server running a job was killed: its row says "running" and nothing touches it.
    silent_since = utcnow() - timedelta(seconds=ctx.settings.cloning_job_stale_s + 60)
    async with ctx.sessions() as db:
        tenant_id = uuid.UUID(acme.tenant_id)
        await scope_to_tenant(db, tenant_id, switch_role=ctx.settings.database_rls)
        await db.execute(
            update(VoiceProfile)
            .where(VoiceProfile.id == voice_id)
            .values(status="running", stage="cloning", progress=0.2, updated_at=silent_since)
        )
        await db.commit()
    lost = (await client.get(url, headers=acme.headers)).json()
    assert lost["status"] == "failed" and "start it again" in lost["error"]
    followed = events(await client.get(f"{url}/jobs/latest/events", headers=acme.headers))
    assert followed == [followed[-1]] and followed[-1]["event"] == "error"
    again = await client.post(f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers)
    assert again.status_code == 202, again.text
    await ctx.cloning.wait(voice_id)
    assert (await client.get(url, headers=acme.headers)).json()["status"] == "ready"

    # A job running when this server stops is failed at once, not left "running".
    fake.add_delay_s = 5.0
    try:
        await client.post(f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers)
        for _ in range(200):  # until the job waits on the cloning service
            if (await client.get(url, headers=acme.headers)).json()["progress"] >= 0.2:
                break
            await asyncio.sleep(0.05)
        await ctx.cloning.aclose()
    finally:
        fake.add_delay_s = 0.0
    stopped = (await client.get(url, headers=acme.headers)).json()
    assert stopped["status"] == "failed" and "server stopped" in stopped["error"]
    assert len(stopped["samples"]) == 5
