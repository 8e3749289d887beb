"""A voice for GPT-SoVITS needs a reference clip: samples with none are refused up front."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_voice_cloning import CONSENT
from tests.conftest import TEST_SECRET, TenantFactory
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.gptsovits import FakeGPTSoVITS
from tests.voices.audio import halting, room, webm_opus
from visavis.config import Settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Iterator[Settings]:
    elevenlabs, gptsovits = FakeElevenLabs(), FakeGPTSoVITS(tmp_path)
    with elevenlabs.serve() as elevenlabs_url, gptsovits.serve() as gptsovits_url:
        yield Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=database_url,
            env="development",
            secret_key=TEST_SECRET,
            elevenlabs_api_key=elevenlabs.api_key,
            elevenlabs_base_url=elevenlabs_url,
            gptsovits_base_url=gptsovits_url,
            gptsovits_local_dir=tmp_path,
            gptsovits_server_dir=str(gptsovits.server_dir),
        )


async def test_samples_without_a_reference_stretch_are_refused_for_gptsovits_only(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    voice = (await client.post("/v1/voices", json={"name": "Maya"}, headers=acme.headers)).json()
    url = f"/v1/voices/{voice['id']}"
    await client.put(
        f"{url}/consent", json={"person_name": "Maya", "text": CONSENT}, headers=acme.headers
    )
    sample = webm_opus(room(halting()))
    for _ in range(5):
        added = await client.post(f"{url}/samples", content=sample, headers=acme.headers)
        assert added.status_code == 201
        report = added.json()["report"]
        assert report["usable"] and "no_stretch" in [p["code"] for p in report["problems"]]

    refused = await client.post(f"{url}/clone", json={"backend": "gptsovits"}, headers=acme.headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "none of the 5 samples has 3 s" in refused.json()["detail"]
    assert "straight through" in refused.json()["detail"]
    unchanged = (await client.get(url, headers=acme.headers)).json()
    assert unchanged["attempts"] == 0 and unchanged["status"] == voice["status"]

    # ElevenLabs clones from the whole samples: no reference clip needed.
    started = await client.post(
        f"{url}/clone", json={"backend": "elevenlabs"}, headers=acme.headers
    )
    assert started.status_code == 202 and started.json()["status"] == "queued"
