"""Cloning backends against loopback fakes of ElevenLabs and GPT-SoVITS ``api_v2``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.gptsovits import FakeGPTSoVITS
from tests.voices.audio import RATE, reading, room, wav
from visavis.voices.cloning import CloneRequest, CloningRejected, CloningUnavailable
from visavis.voices.decoding import decode
from visavis.voices.elevenlabs import ElevenLabsCloning
from visavis.voices.elevenlabs_api import ElevenLabsAPI
from visavis.voices.gptsovits import GPTSoVITSCloning
from visavis.voices.gptsovits_api import GPTSoVITSAPI
from visavis.voices.validation import reference_clip, validate


def clips(directory: Path) -> int:
    return len(list(directory.glob("visavis-*.wav")))


@pytest.fixture(scope="module")
def request_() -> CloneRequest:
    audio = decode(wav(room(reading())), max_seconds=120)
    clip = reference_clip(audio, validate(audio))
    return CloneRequest(name="Maya", samples=[audio.samples] * 2, reference=clip)


@pytest.fixture(scope="module")
def elevenlabs() -> Iterator[tuple[FakeElevenLabs, str]]:
    fake = FakeElevenLabs()
    with fake.serve() as url:
        yield fake, url


async def test_elevenlabs_instant_clone_and_delete(
    elevenlabs: tuple[FakeElevenLabs, str], request_: CloneRequest
) -> None:
    fake, url = elevenlabs
    fake.fail_status = None
    backend = ElevenLabsCloning(ElevenLabsAPI(api_key=fake.api_key, base_url=url))
    steps: list[tuple[float, str]] = []
    voice = await backend.clone(request_, progress=lambda f, what: steps.append((f, what)))
    assert voice.backend == "elevenlabs" and fake.voices[voice.voice_id]["files"] == 2
    assert fake.voices[voice.voice_id]["seconds"] > 50
    assert steps[-1] == (1.0, "ready")
    await backend.delete(voice.voice_id)
    await backend.delete(voice.voice_id)  # already gone: fine
    assert voice.voice_id not in fake.voices
    await backend.aclose()


async def test_elevenlabs_errors_say_whether_to_retry(
    elevenlabs: tuple[FakeElevenLabs, str], request_: CloneRequest
) -> None:
    fake, url = elevenlabs
    wrong_key = ElevenLabsCloning(ElevenLabsAPI(api_key="xi-wrong", base_url=url))
    with pytest.raises(CloningRejected, match="401: Invalid API key"):
        await wrong_key.clone(request_)
    await wrong_key.aclose()
    backend = ElevenLabsCloning(ElevenLabsAPI(api_key=fake.api_key, base_url=url))
    fake.fail_status, fake.retry_after_s = 429, 7
    with pytest.raises(CloningUnavailable) as limited:
        await backend.clone(request_)
    assert limited.value.retry_after_s == 7
    fake.fail_status = 503
    with pytest.raises(CloningUnavailable, match="503"):
        await backend.clone(request_)
    fake.fail_status = None
    with pytest.raises(CloningRejected, match="'files' is required"):
        await backend.api.add_voice(name="Maya", files=[])
    await backend.aclose()
    down = ElevenLabsCloning(ElevenLabsAPI(api_key="k", base_url="http://127.0.0.1:9"))
    with pytest.raises(CloningUnavailable, match="could not be reached"):
        await down.clone(request_)
    await down.aclose()


async def test_gptsovits_stores_the_reference_where_the_server_reads_it(
    tmp_path: Path, request_: CloneRequest
) -> None:
    fake = FakeGPTSoVITS(tmp_path)
    with fake.serve() as url:
        backend = GPTSoVITSCloning(
            GPTSoVITSAPI(base_url=url), local_dir=tmp_path, server_dir="/srv/refs"
        )
        voices = await asyncio.gather(*(backend.clone(request_) for _ in range(3)))
        assert all(v.voice_id.startswith("/srv/refs/visavis-") for v in voices)
        assert clips(tmp_path) == 3
        assert fake.overlapping == 1  # one request at a time to a shared server
        await backend.delete(voices[0].voice_id)
        assert clips(tmp_path) == 2

        too_short = CloneRequest(name="x", samples=[], reference=request_.reference[: 2 * RATE])
        with pytest.raises(CloningRejected, match="3-10 s"):
            await backend.clone(too_short)
        elsewhere = GPTSoVITSCloning(
            GPTSoVITSAPI(base_url=url), local_dir=tmp_path, server_dir="/mnt/other"
        )
        with pytest.raises(CloningRejected, match="not found"):
            await elsewhere.clone(request_)
        assert clips(tmp_path) == 2  # the refused clip was removed
        await elsewhere.aclose()
        await backend.aclose()
