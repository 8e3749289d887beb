"""``POST /v1/lipsync``: the CLI's outputs over HTTP, tenant-authenticated, streamed when long."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.conftest import TenantFactory
from visavis.app import create_app
from visavis.config import Settings
from visavis.speech.lipsync import animate, formats
from visavis.speech.tts.espeak import EspeakEngine

TEXT = "Bob bought a big map for his mother."
WRONG = "Seventeen quiet zebras examined the unusual weather forecast in Lisbon yesterday."
LINES = (
    "Please pass me the butter and the maple syrup.",
    "We walked along the river until the sun went down.",
    "My mother made a pumpkin pie for the party.",
    "Every morning he reads the paper with a cup of tea.",
)


def _wav(pcm: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, pcm, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, bytes]:
    chunk = EspeakEngine().synthesize_sentence(TEXT, 22050)
    return chunk.pcm, _wav(chunk.pcm, 22050)


@pytest.fixture(scope="module")
def long_speech() -> tuple[bytes, str]:
    """A bit over a minute of speech (the piece-by-piece path), with its dialog."""
    engine = EspeakEngine()
    parts, said = [], []
    while sum(len(p) for p in parts) < 64 * 16000:
        line = LINES[len(said) % len(LINES)]
        parts += [engine.synthesize_sentence(line, 16000).pcm, np.zeros(8000, np.int16)]
        said.append(line)
    return _wav(np.concatenate(parts), 16000), " ".join(said)


def _post(
    client: httpx.AsyncClient,
    audio: bytes,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> object:
    return client.post(
        "/v1/lipsync",
        files={"audio": ("speech.wav", audio, "audio/wav")},
        data=fields,
        headers=headers or {},
    )


async def test_lipsync_needs_a_tenant_key(
    client: httpx.AsyncClient, speech: tuple[np.ndarray, bytes]
) -> None:
    missing = await _post(client, speech[1], dialog=TEXT)  # type: ignore[misc]
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "API key" in missing.json()["detail"]
    wrong = await _post(  # type: ignore[misc]
        client, speech[1], {"Authorization": "Bearer vv_not_a_real_key"}, dialog=TEXT
    )
    assert wrong.status_code == 401


async def test_outputs_are_the_command_line_s(
    client: httpx.AsyncClient, make_tenant: TenantFactory, speech: tuple[np.ndarray, bytes]
) -> None:
    acme = await make_tenant("acme")
    pcm, wav = speech
    track = animate(pcm, 22050, text=TEXT)
    for fmt in formats.FORMATS:
        response = await _post(client, wav, acme.headers, dialog=TEXT, format=fmt)  # type: ignore[misc]
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(formats.MEDIA_TYPES[fmt])
        assert response.headers["visavis-lipsync-method"] == "aligned"
        assert "visavis-lipsync-fallback" not in response.headers
        assert response.text == formats.render(track, fmt, sound_file="speech.wav")
    audio_only = await _post(client, wav, acme.headers, extended_shapes="none")  # type: ignore[misc]
    assert audio_only.headers["visavis-lipsync-method"] == "audio"
    assert set(line.split("\t")[1] for line in audio_only.text.splitlines()) <= set("ABCDEF")


async def test_a_dialog_that_does_not_fit_falls_back_unless_strict(
    client: httpx.AsyncClient, make_tenant: TenantFactory, speech: tuple[np.ndarray, bytes]
) -> None:
    acme = await make_tenant("acme")
    loose = await _post(client, speech[1], acme.headers, dialog=WRONG, format="json")  # type: ignore[misc]
    assert loose.status_code == 200
    assert "does not match" in loose.headers["visavis-lipsync-fallback"]
    assert loose.json()["metadata"]["visavis"]["method"] == "audio"
    strict = await _post(  # type: ignore[misc]
        client, speech[1], acme.headers, dialog=WRONG, strict="true"
    )
    assert strict.status_code == 422
    assert strict.headers["content-type"].startswith("application/problem+json")
    assert strict.json()["code"] == "dialog_mismatch"


async def test_bad_input_is_a_problem(
    client: httpx.AsyncClient, make_tenant: TenantFactory, speech: tuple[np.ndarray, bytes]
) -> None:
    acme = await make_tenant("acme")
    garbage = await _post(client, b"RIFF not really a wav file", acme.headers)  # type: ignore[misc]
    assert garbage.status_code == 422 and garbage.json()["code"] == "invalid_audio"
    assert "not a readable audio file" in garbage.json()["detail"]
    bad_format = await _post(client, speech[1], acme.headers, format="mp4")  # type: ignore[misc]
    assert bad_format.status_code == 422 and "format" in bad_format.json()["detail"]
    no_audio = await client.post("/v1/lipsync", data={"dialog": TEXT}, headers=acme.headers)
    assert no_audio.status_code == 422 and "audio" in no_audio.json()["detail"]


async def test_long_recordings_stream_progress_then_the_result(
    client: httpx.AsyncClient, make_tenant: TenantFactory, long_speech: tuple[bytes, str]
) -> None:
    acme = await make_tenant("acme")
    wav, dialog = long_speech
    assert len(wav) > 1024 * 1024  # beyond the API's usual body limit
    headers = {**acme.headers, "Accept": "application/x-ndjson"}
    response = await _post(client, wav, headers, dialog=dialog, format="json")  # type: ignore[misc]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in response.text.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert len(progress) >= 3
    done = [e["done_seconds"] for e in progress]
    assert done == sorted(done) and done[-1] == progress[-1]["total_seconds"] > 60
    result = events[-1]
    assert result["event"] == "result" and result["method"] == "aligned"
    assert result["fallback_spans"] == []
    document = json.loads(result["body"])
    assert document["mouthCues"][-1]["end"] == document["metadata"]["duration"] > 60


async def test_uploads_over_the_lipsync_limit_are_refused(
    settings: Settings, make_tenant: TenantFactory, speech: tuple[np.ndarray, bytes]
) -> None:
    small = create_app(settings.model_copy(update={"lipsync_max_upload_bytes": 4096}))
    async with small.router.lifespan_context(small):
        transport = httpx.ASGITransport(app=small, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://visavis.test") as http:
            response = await _post(http, speech[1])  # type: ignore[misc]
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
