"""``/v1/voices`` on SQLite and PostgreSQL: samples validated on upload, consent recorded."""

from __future__ import annotations

import io
import uuid

import httpx
import numpy as np
import soundfile
from scipy.signal import resample_poly

from tests.conftest import TenantFactory
from tests.voices.audio import RATE, reading, room, wav, webm_opus
from visavis.tenancy.keys import key_prefix

PROBLEM = "application/problem+json"
CONSENT = "I agree that Visavis may clone my voice for my own digital twin."


async def test_samples_are_validated_and_only_usable_ones_are_kept(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme, other = await make_tenant("acme"), await make_tenant("other")
    made = await client.post("/v1/voices", json={"name": "Maya"}, headers=acme.headers)
    assert made.status_code == 201 and made.json()["samples_needed"] == 5
    voice = made.json()["id"]
    good = webm_opus(room(reading()))
    uploaded = await client.post(
        f"/v1/voices/{voice}/samples",
        params={"transcript": "My name is Maya."},
        content=good,
        headers=acme.headers | {"content-type": "audio/webm"},
    )
    assert uploaded.status_code == 201, uploaded.text
    report = uploaded.json()["report"]
    assert report["usable"] is True and report["speech_share"] > 0.7
    assert uploaded.json()["transcript"] == "My name is Maya."

    silence = wav(np.zeros(30 * RATE, dtype=np.float32))
    refused = await client.post(
        f"/v1/voices/{voice}/samples", content=silence, headers=acme.headers
    )
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    assert "speech" in refused.json()["detail"] and "not kept" in refused.json()["detail"]
    assert refused.json()["report"]["usable"] is False
    corrupt = await client.post(
        f"/v1/voices/{voice}/samples", content=b"\x1aE\xdf\xa3 broken" * 40, headers=acme.headers
    )
    assert corrupt.status_code == 422 and "not audio we can read" in corrupt.json()["detail"]
    # A studio's WAV: 48 kHz, nearly 3 MB, over the 1 MiB of ordinary requests.
    studio = wav(resample_poly(room(reading()), 3, 1).astype(np.float32), rate=48000)
    assert len(studio) > 2 * 1024 * 1024
    kept = await client.post(f"/v1/voices/{voice}/samples", content=studio, headers=acme.headers)
    assert kept.status_code == 201, kept.text
    assert kept.json()["duration_s"] > 25
    shown = (await client.get(f"/v1/voices/{voice}", headers=acme.headers)).json()
    assert len(shown["samples"]) == 2 and shown["samples_needed"] == 3

    for method, path in [
        ("GET", f"/v1/voices/{voice}"),
        ("POST", f"/v1/voices/{voice}/samples"),
        ("PUT", f"/v1/voices/{voice}/consent"),
        ("DELETE", f"/v1/voices/{voice}/samples/{uploaded.json()['id']}"),
        ("DELETE", f"/v1/voices/{voice}"),
    ]:
        if method == "PUT":
            body = {"person_name": "Mallory", "text": CONSENT}
            response = await client.put(path, json=body, headers=other.headers)
        else:
            content = good if method == "POST" else None
            response = await client.request(method, path, content=content, headers=other.headers)
        assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/voices", headers=other.headers)).json() == {"items": []}

    for sample in (uploaded.json(), kept.json()):
        removed = await client.delete(
            f"/v1/voices/{voice}/samples/{sample['id']}", headers=acme.headers
        )
        assert removed.status_code == 204
    assert (await client.get(f"/v1/voices/{voice}", headers=acme.headers)).json()["samples"] == []


async def test_five_samples_at_most_and_consent_is_recorded_with_who_and_when(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    voice = (await client.post("/v1/voices", json={"name": "Ana"}, headers=acme.headers)).json()
    sample = webm_opus(room(reading()))
    for _ in range(5):
        ok = await client.post(
            f"/v1/voices/{voice['id']}/samples", content=sample, headers=acme.headers
        )
        assert ok.status_code == 201, ok.text
    full = await client.post(
        f"/v1/voices/{voice['id']}/samples", content=sample, headers=acme.headers
    )
    assert full.status_code == 409 and "delete one" in full.json()["detail"]
    short = await client.put(
        f"/v1/voices/{voice['id']}/consent",
        json={"person_name": "Ana", "text": "ok"},
        headers=acme.headers,
    )
    assert short.status_code == 422
    agreed = await client.put(
        f"/v1/voices/{voice['id']}/consent",
        json={"person_name": "Ana Lima", "text": CONSENT},
        headers=acme.headers,
    )
    assert agreed.status_code == 200 and agreed.json()["recorded_by"] == key_prefix(acme.key)
    shown = (await client.get(f"/v1/voices/{voice['id']}", headers=acme.headers)).json()
    assert shown["consent"]["person_name"] == "Ana Lima" and shown["consent"]["text"] == CONSENT
    assert shown["samples_needed"] == 0
    assert (
        await client.delete(f"/v1/voices/{voice['id']}", headers=acme.headers)
    ).status_code == 204
    assert (await client.get("/v1/voices", headers=acme.headers)).json() == {"items": []}


async def test_music_and_a_two_hour_upload_are_refused_and_nothing_changes(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    voice = (await client.post("/v1/voices", json={"name": "Maya"}, headers=acme.headers)).json()
    seconds = np.arange(30 * RATE) / RATE
    chords = sum(
        0.2 * np.sin(2 * np.pi * f * seconds) * (np.sin(2 * np.pi * 2 * seconds) > 0)
        for f in (262, 330, 392)
    )
    music = await client.post(
        f"/v1/voices/{voice['id']}/samples",
        content=wav(np.asarray(chords, dtype=np.float32)),
        headers=acme.headers,
    )
    assert music.status_code == 422 and music.headers["content-type"] == PROBLEM
    assert "music, silence or noise" in music.json()["detail"]
    assert [p["code"] for p in music.json()["report"]["problems"]] == ["not_speech"]

    two_hours = io.BytesIO()
    minute = np.zeros(8000 * 60, dtype=np.int16)
    with soundfile.SoundFile(
        two_hours, "w", samplerate=8000, channels=1, format="FLAC", subtype="PCM_16"
    ) as flac:
        for _ in range(120):
            flac.write(minute)
    long = await client.post(
        f"/v1/voices/{voice['id']}/samples", content=two_hours.getvalue(), headers=acme.headers
    )
    assert long.status_code == 422 and long.headers["content-type"] == PROBLEM
    assert "120 min long" in long.json()["detail"]  # from the declared length, not decoded

    shown = (await client.get(f"/v1/voices/{voice['id']}", headers=acme.headers)).json()
    assert shown["samples"] == [] and shown["status"] == "collecting"
    twin = await client.post(
        "/v1/twins", json={"name": "Maya", "voice": "my-own-voice"}, headers=acme.headers
    )
    assert twin.status_code == 422 and twin.headers["content-type"] == PROBLEM
    unknown = await client.post(
        "/v1/twins", json={"name": "Maya", "voice": str(uuid.uuid4())}, headers=acme.headers
    )
    assert unknown.status_code == 404 and "voice not found" in unknown.json()["detail"]
    assert (await client.get("/v1/twins", headers=acme.headers)).json()["items"] == []
