"""Speaking with cloned voices against the fakes, and the bundled voice behind them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.gptsovits import FakeGPTSoVITS
from tests.voices.audio import reading, wav
from visavis.speech.tts.base import AudioChunk, TTSEngine
from visavis.speech.tts.espeak import EspeakEngine
from visavis.speech.tts.fallback import FallbackVoice, VoiceSwitch
from visavis.speech.voice import LocalVoice
from visavis.voices.elevenlabs import ElevenLabsCloning
from visavis.voices.elevenlabs_api import ElevenLabsAPI
from visavis.voices.gptsovits import GPTSoVITSCloning
from visavis.voices.gptsovits_api import GPTSoVITSAPI
from visavis.voices.gptsovits_speech import clauses

SENTENCE = "I restore old tiled buildings in Lisbon with my partner every summer."


@pytest.fixture
def elevenlabs() -> Iterator[tuple[FakeElevenLabs, ElevenLabsCloning]]:
    fake = FakeElevenLabs()
    fake.voices["maya"] = {"name": "Maya", "files": 5, "seconds": 150.0}
    with fake.serve() as url:
        yield fake, ElevenLabsCloning(ElevenLabsAPI(api_key=fake.api_key, base_url=url))


async def chunks(engine: TTSEngine, text: str, rate: int = 16000) -> list[AudioChunk]:
    return [chunk async for chunk in engine.synthesize(text, sample_rate=rate)]


def words(pieces: list[AudioChunk]) -> str:
    return " ".join(p.text for p in pieces)


async def test_elevenlabs_streams_whole_words_with_mouth_cues_from_our_aligner(
    elevenlabs: tuple[FakeElevenLabs, ElevenLabsCloning],
) -> None:
    fake, backend = elevenlabs
    pieces = await chunks(backend.speaker("maya"), SENTENCE)
    assert len(pieces) >= 2 and words(pieces) == SENTENCE  # cut between words only
    assert all(p.sample_rate == 16000 and p.phones is None for p in pieces)
    assert [p.continued for p in pieces][-1] is False
    assert fake.spoken == [SENTENCE]
    spoken = await LocalVoice(backend.speaker("maya"), sample_rate=16000).speak_whole(SENTENCE)
    assert spoken.duration_ms > 2000 and len(spoken.cues) > 10
    await backend.aclose()


async def test_elevenlabs_refusals_are_errors_not_silence(
    elevenlabs: tuple[FakeElevenLabs, ElevenLabsCloning],
) -> None:
    fake, backend = elevenlabs
    with pytest.raises(Exception, match="404"):
        await chunks(backend.speaker("nobody"), SENTENCE)
    fake.speech_fail_status = 503
    with pytest.raises(Exception, match="503"):
        await chunks(backend.speaker("maya"), SENTENCE)
    await backend.aclose()


async def test_gptsovits_speaks_clause_by_clause_one_request_at_a_time(tmp_path: Path) -> None:
    fake = FakeGPTSoVITS(tmp_path)
    (tmp_path / "maya.wav").write_bytes(wav(reading()[: 5 * 16000]))
    text = "When I was nine, my family moved from Enugu to Manchester, and it rained for a year."
    assert clauses(text) == [
        "When I was nine,",
        "my family moved from Enugu to Manchester,",
        "and it rained for a year.",
    ]
    assert clauses("Yes, I do, and often.") == ["Yes, I do, and often."]
    with fake.serve() as url:
        backend = GPTSoVITSCloning(
            GPTSoVITSAPI(base_url=url), local_dir=tmp_path, server_dir="/srv/refs"
        )
        voice = backend.speaker("/srv/refs/maya.wav")
        results = await asyncio.gather(*(chunks(voice, text, 24000) for _ in range(2)))
        for pieces in results:
            assert [p.text for p in pieces] == clauses(text)
            assert [p.continued for p in pieces] == [True, True, False]
            assert all(p.sample_rate == 24000 and p.duration > 0.5 for p in pieces)
        assert fake.overlapping == 1
        fake.fail_status = 500
        with pytest.raises(Exception, match="500"):
            await chunks(voice, text)
        await backend.aclose()


class Recorder:
    def __init__(self) -> None:
        self.switches: list[VoiceSwitch] = []

    def __call__(self, switch: VoiceSwitch) -> None:
        self.switches.append(switch)


async def spoken_by(
    voice: FallbackVoice, text: str, fallback: TTSEngine
) -> AsyncIterator[tuple[str, str]]:
    async for chunk in voice.synthesize(text, sample_rate=16000):
        yield ("fallback" if chunk.phones is not None else "cloned", chunk.text)


async def test_a_slow_or_failing_cloned_voice_hands_each_sentence_to_the_bundled_one(
    elevenlabs: tuple[FakeElevenLabs, ElevenLabsCloning],
) -> None:
    fake, backend = elevenlabs
    bundled = EspeakEngine()  # its chunks carry phone timings: that is how they are told apart
    switches = Recorder()
    now = [0.0]
    voice = FallbackVoice(
        backend.speaker("maya"),
        bundled,
        first_audio_s=0.3,
        retry_after_s=10,
        on_switch=switches,
        clock=lambda: now[0],
    )
    text = f"{SENTENCE} We have a grey cat."
    said = [s async for s in spoken_by(voice, text, bundled)]
    assert {who for who, _ in said} == {"cloned"} and switches.switches == []

    fake.speech_delay_s = 0.6  # first audio later than allowed
    said = [s async for s in spoken_by(voice, text, bundled)]
    assert said == [("fallback", SENTENCE), ("fallback", "We have a grey cat.")]
    assert [(s.speaking, s.reason) for s in switches.switches] == [("fallback", "voice_slow")]
    calls = len(fake.spoken)
    said = [s async for s in spoken_by(voice, "Still slow?", bundled)]
    assert said == [("fallback", "Still slow?")] and len(fake.spoken) == calls  # left alone

    fake.speech_delay_s = 0.0
    fake.speech_break_after = 1  # breaks off after its first piece: the rest is not lost
    now[0] = 11.0
    said = [s async for s in spoken_by(voice, SENTENCE, bundled)]
    assert said[0][0] == "cloned" and said[-1][0] == "fallback"
    assert " ".join(text for _, text in said) == SENTENCE

    fake.speech_break_after = None
    now[0] = 22.0
    said = [s async for s in spoken_by(voice, SENTENCE, bundled)]
    assert {who for who, _ in said} == {"cloned"}
    assert [(s.speaking, s.reason) for s in switches.switches][-1] == (
        "primary",
        "voice_restored",
    )

    await fake_down(voice, bundled)
    await backend.aclose()


async def fake_down(voice: FallbackVoice, bundled: TTSEngine) -> None:
    down = ElevenLabsCloning(ElevenLabsAPI(api_key="k", base_url="http://127.0.0.1:9"))
    switches = Recorder()
    nothing_lost = FallbackVoice(down.speaker("maya"), bundled, on_switch=switches)
    said = [s async for s in spoken_by(nothing_lost, SENTENCE, bundled)]
    assert said == [("fallback", SENTENCE)]
    assert switches.switches[0].reason == "voice_unavailable"
    assert "could not be reached" in switches.switches[0].message
    await down.aclose()
