"""``/v1/audio``: the official OpenAI SDK round-trips speech and transcription against a real
server; bad input is problem+json; the routes are authenticated and rate-limited."""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import AsyncIterator

import httpx
import numpy as np
import openai
import pytest

from tests.live_server import RunningServer, ServerFactory, TenantCredentials
from tests.speech.stt.conftest import piper_speech, word_errors, words_of
from visavis.speech.decode import decode_audio
from visavis.speech.encode import encode_audio

SENTENCE = "Please tell me about the last project you worked on."


@pytest.fixture
async def server(live_server: ServerFactory) -> RunningServer:
    return live_server()


@pytest.fixture
async def tenant(server: RunningServer) -> TenantCredentials:
    return await server.tenant("acme")


@pytest.fixture
async def sdk(
    server: RunningServer, tenant: TenantCredentials
) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=tenant.key, max_retries=0)
    yield client
    await client.close()


@pytest.mark.slow
async def test_openai_sdk_speaks_and_transcribes_it_back(sdk: openai.AsyncOpenAI) -> None:
    speech = await sdk.audio.speech.create(
        model="tts-1", voice="alloy", input=SENTENCE, response_format="wav"
    )
    wav_data = speech.read()
    with wave.open(io.BytesIO(wav_data)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 24000)
        assert wav.getnframes() / 24000 > 2.0
    # Any common format goes in: send it back as FLAC, like a client that recorded it.
    flac = encode_audio(decode_audio(wav_data, sample_rate=24000), 24000, "flac")
    verbose = await sdk.audio.transcriptions.create(
        model="whisper-1",
        file=("answer.flac", flac, "audio/flac"),
        language="en",
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert word_errors(SENTENCE, verbose.text) <= 1, verbose.text
    assert verbose.language == "english"
    assert verbose.duration == pytest.approx(wav.getnframes() / 24000, abs=0.05)
    assert [w.word.strip(".,").lower() for w in verbose.words or []] == words_of(verbose.text)
    assert verbose.segments and verbose.segments[0].start < 0.5
    plain = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_data))
    assert plain.text == verbose.text
    text = await sdk.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", wav_data), response_format="text"
    )
    assert str(text).strip() == verbose.text
    vtt = await sdk.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", wav_data), response_format="vtt"
    )
    assert str(vtt).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:0")
    srt = await sdk.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", wav_data), response_format="srt"
    )
    assert str(srt).startswith("1\n00:00:00,000 --> ")


@pytest.mark.slow
async def test_a_prompt_spells_the_names_it_gives(sdk: openai.AsyncOpenAI) -> None:
    said = "My name is Siobhan Nakamura and I applied for the data role."
    wav_data = encode_audio(piper_speech(said), 16000, "wav")
    plain = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_data))
    told = await sdk.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", wav_data), prompt="Siobhan Nakamura, Heroku."
    )
    assert "siobhan nakamura" not in plain.text.lower(), "the premise: unknown, it is misheard"
    assert "Siobhan Nakamura" in told.text, told.text
    assert word_errors(said, told.text) == 0, told.text


@pytest.mark.slow
async def test_a_streamed_transcription_sends_its_text_piece_by_piece(
    sdk: openai.AsyncOpenAI,
) -> None:
    said = [
        "I led the migration of our billing system.",
        "It took us six months and we finished on time.",
        "The hardest part was moving the old invoices.",
        "We wrote a checker that compared every total.",
        "After the switch nobody noticed a difference.",
        "That was the best outcome we could hope for.",
        "Next year we want to do the same for payroll.",
        "Payroll has more rules, so we will start small.",
        "I would like to lead that project as well.",
    ]
    gap = np.zeros(24000, np.int16)  # 1.5 s between sentences: over 28 s in all
    recording = np.concatenate([part for text in said for part in (piper_speech(text), gap)])
    assert len(recording) / 16000 > 30
    wav_data = encode_audio(recording, 16000, "wav")
    stream = await sdk.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("answer.wav", wav_data), stream=True
    )
    events = [event async for event in stream]
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    # Up to 28 s of speech a piece: two pieces, two deltas, then the whole text.
    assert [e.type for e in events] == ["transcript.text.delta"] * 2 + ["transcript.text.done"]
    done = events[-1]
    assert done.type == "transcript.text.done"
    assert "".join(deltas) == done.text
    assert deltas[1].startswith(" ")
    assert word_errors(" ".join(said), done.text) <= 3, done.text
    # Without stream, the same pieces: the same text, and a segment per sentence said.
    verbose = await sdk.audio.transcriptions.create(
        model="whisper-1",
        file=("answer.wav", wav_data),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert verbose.text == done.text
    segments = verbose.segments or []
    assert len(segments) == len(said)
    assert [s.start for s in segments] == sorted(s.start for s in segments)
    assert segments[-1].start > 28
    assert verbose.duration == pytest.approx(len(recording) / 16000, abs=0.001)


async def test_speech_formats(sdk: openai.AsyncOpenAI) -> None:
    pcm = (
        await sdk.audio.speech.create(
            model="tts-1", voice="nova", input="Hello there.", response_format="pcm", speed=1.5
        )
    ).read()
    slow = (
        await sdk.audio.speech.create(
            model="tts-1", voice="nova", input="Hello there.", response_format="pcm", speed=0.75
        )
    ).read()
    assert len(pcm) % 2 == 0  # raw 16-bit samples
    # Speed obeyed: half the speed asked for. The bundled voice draws its timing at random
    # (the same text at one speed varies by up to 14 %), and not every pause scales, so the
    # ratio is 1.5-1.8 rather than 2; a voice ignoring the speed stays near 1.
    assert len(slow) > 1.3 * len(pcm)
    mp3 = await sdk.audio.speech.create(model="tts-1", voice="nova", input="Hello there.")
    assert mp3.response.headers["content-type"] == "audio/mpeg"
    seconds = len(decode_audio(mp3.read())) / 16000
    assert len(pcm) / 2 / 24000 < seconds < len(slow) / 2 / 24000


def _events(body: str) -> list[dict[str, object]]:
    """The data of each server-sent event, checked against its ``event:`` line."""
    events = []
    for block in body.strip().split("\n\n"):
        kind, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert kind == f"event: {event['type']}"
        events.append(event)
    return events


async def test_speech_streams(server: RunningServer, tenant: TenantCredentials) -> None:
    text = "Thank you for coming in today. Let us begin with your background."
    speak = {"model": "tts-1", "voice": "alloy", "input": text}
    async with httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http:
        whole = await http.post("/v1/audio/speech", json={**speak, "response_format": "wav"})
        async with http.stream(
            "POST", "/v1/audio/speech", json={**speak, "response_format": "pcm"}
        ) as raw:
            assert "content-length" not in raw.headers  # sent as it is synthesized
            pcm = b"".join([part async for part in raw.aiter_raw()])
        sse = await http.post(
            "/v1/audio/speech", json={**speak, "response_format": "pcm", "stream_format": "sse"}
        )
        sse_wav = await http.post(
            "/v1/audio/speech", json={**speak, "response_format": "wav", "stream_format": "sse"}
        )
        refused = await http.post(
            "/v1/audio/speech",
            json={**speak, "response_format": "visavis.visemes", "stream_format": "sse"},
        )
    # The synthesis cache says a sentence once: every answer carries the same samples.
    samples = decode_audio(whole.content, sample_rate=24000)
    assert np.frombuffer(pcm, "<i2").tolist() == samples.tolist()
    assert sse.headers["content-type"].startswith("text/event-stream")
    events = _events(sse.text)
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) >= 2  # at least a delta per sentence
    assert [e["type"] for e in events[len(deltas) :]] == ["speech.audio.done"]
    assert events[-1]["usage"] == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    streamed = b"".join(base64.b64decode(str(e["audio"])) for e in deltas)
    assert streamed == pcm
    (wav_delta, done) = _events(sse_wav.text)
    assert done["type"] == "speech.audio.done"
    wav_samples = decode_audio(base64.b64decode(str(wav_delta["audio"])), sample_rate=24000)
    assert wav_samples.tolist() == samples.tolist()
    assert _problem(refused, 422)["code"] == "stream_unsupported_format"


async def test_speech_with_mouth_cues(server: RunningServer, tenant: TenantCredentials) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http:
        response = await http.post(
            "/v1/audio/speech",
            json={
                "model": "tts-1",
                "input": "Bob bought a big map.",
                "voice": "alloy",
                "response_format": "visavis.visemes",
            },
        )
    assert response.status_code == 200, response.text
    body = response.json()
    pcm = decode_audio(base64.b64decode(body["audio"]), sample_rate=24000)
    assert body["sample_rate"] == 24000 and body["audio_format"] == "wav"
    assert body["duration"] == pytest.approx(len(pcm) / 24000, abs=0.01)
    cues = body["mouth_cues"]
    assert cues[0]["start"] == 0 and cues[-1]["end"] == pytest.approx(body["duration"], abs=0.01)
    assert all(a["end"] == pytest.approx(b["start"]) for a, b in zip(cues, cues[1:], strict=False))
    # "Bob bought a big map": the lips close (shape A) for b, b, b, m, p.
    assert sum(c["value"] == "A" for c in cues) >= 3
    assert {c["value"] for c in cues} <= set("ABCDEFGHX")


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    return body


async def test_bad_input_is_problem_json(server: RunningServer, tenant: TenantCredentials) -> None:
    wav = encode_audio(np.zeros(16000, np.int16), 16000, "wav")
    async with httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http:

        def upload(data: bytes, **fields: str) -> object:
            return http.post(
                "/v1/audio/transcriptions",
                data={"model": "whisper-1", **fields},
                files={"file": ("clip.bin", data)},
            )

        body = _problem(await upload(b"this is not audio" * 10), 415)
        assert "clip.bin is not audio in a format we read" in str(body["detail"])
        body = _problem(await upload(wav, language="de"), 422)
        assert body["code"] == "unsupported_language"
        body = _problem(await upload(wav, response_format="mp4"), 422)
        assert "response_format" in str(body["detail"])
        body = _problem(await upload(wav, language="de", stream="true"), 422)
        assert body["code"] == "unsupported_language"  # before any event is sent
        body = _problem(await upload(wav, stream="true", response_format="verbose_json"), 422)
        assert body["code"] == "stream_unsupported_format"
        assert "ask for json or text" in str(body["detail"])
        silence = await upload(wav, stream="true")
        assert silence.headers["content-type"].startswith("text/event-stream")
        assert silence.text == (
            'event: transcript.text.done\ndata: {"type": "transcript.text.done", "text": ""}\n\n'
        )
        body = _problem(await http.post("/v1/audio/transcriptions", data={"model": "x"}), 422)
        assert "file" in str(body["detail"])
        for bad in (
            {"model": "tts-1", "input": ""},
            {"model": "tts-1", "input": "Hi.", "speed": 9},
            {"model": "tts-1", "input": "Hi.", "response_format": "ogg"},
            {"model": "tts-1", "input": "x" * 4097},
        ):
            _problem(await http.post("/v1/audio/speech", json=bad), 422)
        body = _problem(
            await http.post("/v1/audio/speech", json={"model": "tts-1", "input": "%%% ***"}), 422
        )
        assert body["code"] == "unspeakable_text"
    async with httpx.AsyncClient(base_url=server.base_url) as anonymous:
        _problem(await anonymous.post("/v1/audio/speech", json={"model": "m", "input": "Hi."}), 401)
        _problem(
            await anonymous.post(
                "/v1/audio/transcriptions", data={"model": "m"}, files={"file": ("a.wav", wav)}
            ),
            401,
        )


async def test_upload_and_duration_limits(live_server: ServerFactory) -> None:
    server = live_server(stt_max_upload_bytes=64 * 1024, stt_max_audio_s=1.0)
    tenant = await server.tenant("acme")
    two_seconds = encode_audio(np.zeros(32000, np.int16), 16000, "wav")  # 64 kB: allowed in
    big = encode_audio(np.zeros(48000, np.int16), 16000, "wav")  # 96 kB
    # In process: over a socket the early 413 races the client still sending its body.
    transport = httpx.ASGITransport(app=server.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://visavis.test", headers=tenant.headers
    ) as local:
        body = _problem(
            await local.post(
                "/v1/audio/transcriptions", data={"model": "m"}, files={"file": ("a.wav", big)}
            ),
            413,
        )
        assert body["code"] == "body_too_large" and "65536 bytes" in str(body["detail"])
    async with httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http:
        body = _problem(
            await http.post(
                "/v1/audio/transcriptions",
                data={"model": "m"},
                files={"file": ("a.wav", two_seconds)},
            ),
            413,
        )
        assert body["code"] == "audio_too_long" and "limit of 1 s" in str(body["detail"])


async def test_audio_routes_are_rate_limited(live_server: ServerFactory) -> None:
    server = live_server(rate_limit_key_per_s=0.01, rate_limit_key_burst=1)
    tenant = await server.tenant("acme")
    request = {"model": "tts-1", "input": "Hi.", "response_format": "pcm"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http:
        assert (await http.post("/v1/audio/speech", json=request)).status_code == 200
        body = _problem(await http.post("/v1/audio/speech", json=request), 429)
        assert body["code"] == "rate_limited"


def test_speech_request_schema_is_documented() -> None:
    from visavis.api.routes.audio import SpeechRequest

    schema = SpeechRequest.model_json_schema()
    assert "visavis.visemes" in json.dumps(schema)
