"""The OpenAI-compatible recognizer against a loopback fake speaking the real contract."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import numpy as np
import pytest

from tests.fakes.openai_audio import FakeOpenAIAudio
from visavis.speech.encode import wav_bytes
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt import STTEngineOptions, TranscriptionError, build_stt_engine
from visavis.speech.stt.openai_api import OpenAITranscriptionAPI
from visavis.speech.stt.openai_compatible import (
    OpenAICompatibleSTTEngine,
    OpenAISTTOptions,
    parse_segments,
)

TEXT = "I led the migration of our billing system."


@pytest.fixture
def fake() -> FakeOpenAIAudio:
    return FakeOpenAIAudio(transcript=TEXT, api_key="sk-test")


@pytest.fixture
def base_url(fake: FakeOpenAIAudio) -> Iterator[str]:
    with fake.serve() as url:
        yield url


def _engine(
    base_url: str, *, key: str = "sk-test", timeout_s: float = 5.0
) -> OpenAICompatibleSTTEngine:
    api = OpenAITranscriptionAPI(base_url=base_url, api_key=key, timeout_s=timeout_s)
    return OpenAICompatibleSTTEngine(api, OpenAISTTOptions(model="whisper-large-v3"))


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16)


async def test_final_transcript_with_words(fake: FakeOpenAIAudio, base_url: str) -> None:
    engine = _engine(base_url)
    transcript = await engine.transcribe(_tone(2.0), language="en")
    await engine.aclose()
    assert transcript.text == TEXT and transcript.final
    assert transcript.duration == pytest.approx(2.0)
    assert [w.text for w in transcript.words] == TEXT.split()
    assert transcript.words[-1].end == pytest.approx(2.0, abs=0.01)
    (request,) = fake.requests
    assert request["headers"]["authorization"] == "Bearer sk-test"
    assert request["fields"]["model"] == ["whisper-large-v3"]
    assert request["fields"]["language"] == ["en"]
    assert request["fields"]["response_format"] == ["verbose_json"]
    assert request["fields"]["timestamp_granularities[]"] == ["word", "segment"]
    assert request["duration"] == pytest.approx(2.0)


async def test_the_prompt_goes_to_the_server(fake: FakeOpenAIAudio, base_url: str) -> None:
    engine = _engine(base_url)
    assert engine.takes_prompt
    await engine.transcribe(_tone(1.0), prompt="Names and terms: Siobhan Nakamura.")
    stream = engine.stream(prompt="Names and terms: Heroku.")
    stream.push_audio(_tone(1.0))
    await stream.finish()
    await stream.aclose()
    await engine.transcribe(_tone(1.0))
    await engine.aclose()
    assert [r["fields"].get("prompt") for r in fake.requests] == [
        ["Names and terms: Siobhan Nakamura."],
        ["Names and terms: Heroku."],
        None,
    ]


async def test_stream_sends_the_utterance_once_at_the_end(
    fake: FakeOpenAIAudio, base_url: str
) -> None:
    engine = _engine(base_url)
    stream = engine.stream()
    for start in range(0, 32000, 320):
        stream.push_audio(_tone(2.0)[start : start + 320])
    final = await stream.finish()
    seen = [t async for t in stream.transcripts()]
    await stream.aclose()
    await engine.aclose()
    assert seen == [final] and final.text == TEXT
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("knobs", "key", "message"),
    [
        ({}, "sk-wrong", "refused with 401 (check VISAVIS_STT_OPENAI_API_KEY): Incorrect API key"),
        ({"fail_status": 500}, "sk-test", "refused with 500: The server had an error"),
        ({"malformed": True}, "sk-test", "answered 200 with no JSON"),
        ({"response_delay_s": 2.0}, "sk-test", "did not answer within 0.3 s"),
    ],
)
async def test_server_failures_are_typed_errors(
    fake: FakeOpenAIAudio, base_url: str, knobs: dict[str, object], key: str, message: str
) -> None:
    fake.configure(**knobs)
    engine = _engine(base_url, key=key, timeout_s=0.3)
    with pytest.raises(TranscriptionError) as caught:
        await engine.transcribe(_tone(0.5))
    await engine.aclose()
    assert message in caught.value.message


async def test_unreachable_server_is_a_typed_error() -> None:
    engine = _engine("http://127.0.0.1:9/v1")
    with pytest.raises(TranscriptionError, match="cannot reach"):
        await engine.transcribe(_tone(0.2))
    await engine.aclose()
    await engine.aclose()


async def test_built_by_name_from_options(fake: FakeOpenAIAudio, base_url: str) -> None:
    options = STTEngineOptions(engine="openai", openai_base_url=base_url, openai_api_key="sk-test")
    engine = build_stt_engine(options, scheduler=DeadlineScheduler(2))
    assert isinstance(engine, OpenAICompatibleSTTEngine)
    assert (await engine.transcribe(_tone(0.5))).text == TEXT
    await engine.aclose()


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe"])
async def test_a_model_that_answers_only_json_still_transcribes(
    fake: FakeOpenAIAudio, base_url: str, model: str
) -> None:
    api = OpenAITranscriptionAPI(base_url=base_url, api_key="sk-test", timeout_s=5.0)
    engine = OpenAICompatibleSTTEngine(api, OpenAISTTOptions(model=model))
    first = await engine.transcribe(_tone(2.0), language="en")
    stream = engine.stream()
    stream.push_audio(_tone(1.0))
    second = await stream.finish()
    await stream.aclose()
    await engine.aclose()
    assert first.text == second.text == TEXT
    assert first.segments[0].text == TEXT and first.words == ()
    assert not engine.word_times
    formats = [
        (r["fields"]["response_format"], r["fields"].get("timestamp_granularities[]"))
        for r in fake.requests
    ]
    # Refused once, asked again for json at once; the next utterance goes straight to json.
    assert formats == [
        (["verbose_json"], ["word", "segment"]),
        (["json"], None),
        (["json"], None),
    ]


async def test_other_refusals_are_not_asked_again(fake: FakeOpenAIAudio, base_url: str) -> None:
    fake.configure(fail_status=400, fail_times=1)
    engine = _engine(base_url)
    with pytest.raises(TranscriptionError, match="refused with 400"):
        await engine.transcribe(_tone(0.5))
    assert (await engine.transcribe(_tone(0.5))).words  # still asks for times
    await engine.aclose()
    assert [r["fields"]["response_format"] for r in fake.requests] == [["verbose_json"]] * 2


async def test_words_listed_inside_segments(fake: FakeOpenAIAudio, base_url: str) -> None:
    fake.configure(words_in_segments=True)
    engine = _engine(base_url)
    transcript = await engine.transcribe(_tone(2.0))
    await engine.aclose()
    assert [w.text for w in transcript.words] == TEXT.split()
    assert transcript.words[-1].end == pytest.approx(2.0, abs=0.01)


def test_segments_take_the_words_inside_them() -> None:
    body = {
        "text": "one two three",
        "segments": [
            {"text": "one two", "start": 0, "end": 1},
            {"text": "three", "start": 1, "end": 2},
        ],
        "words": [
            {"word": "one", "start": 0.1, "end": 0.4},
            {"word": "two", "start": 0.5, "end": 0.9},
            {"word": "three", "start": 1.2, "end": 1.8},
        ],
    }
    first, second = parse_segments(body)
    assert [w.text for w in first.words] == ["one", "two"]
    assert [w.text for w in second.words] == ["three"]
    with pytest.raises(TranscriptionError, match="malformed"):
        parse_segments({"text": "x", "words": [{"word": "x"}]})
    assert parse_segments({"text": ""}) == []


def test_wav_bytes_is_a_16khz_mono_wav() -> None:
    with wave.open(io.BytesIO(wav_bytes(_tone(0.25)))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.getnframes() == 4000
