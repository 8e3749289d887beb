"""Voice input through a real WebSocket, with the real recognizer (Whisper tiny.en), Silero and
Piper: a client streams synthesized speech as 20 ms microphone frames in real time."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tests.conversation.live_client import SHORT_PLAN, LiveClient, start_conversation, store_plan
from tests.live_server import ServerFactory
from tests.speech.stt.conftest import piper_speech, until_loaded, word_errors
from visavis.conversation import mic_frames

pytestmark = pytest.mark.slow

RATE = 16000
FRAME = 320  # 20 ms
MIC = {"audio_in": {"format": "pcm_s16le", "sample_rate": RATE}}
# tiny.en hears this one right wherever the utterance's cut falls (the audio's offset within
# Whisper's 10 ms frames changes some words: "a nurse in" became "an arson" at 2 of 16 offsets).
ANSWER = "I teach history at a small school near the river."
STOP = "Sorry, can I ask you something first?"


async def stream(client: LiveClient, pcm: np.ndarray, *, seq: int = 0) -> int:
    """Send ``pcm`` as the microphone would: 20 ms frames on a real-time schedule."""
    assert client.ws is not None
    start = time.monotonic()
    for index, offset in enumerate(range(0, len(pcm), FRAME)):
        await client.ws.send(mic_frames.encode_mic_frame(seq + index, pcm[offset : offset + FRAME]))
        delay = start + (index + 1) * FRAME / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return seq + len(range(0, len(pcm), FRAME))


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def noise(seconds: float, dbfs: float = -50.0) -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.standard_normal(int(seconds * RATE)) * 32767 * 10 ** (dbfs / 20)).astype(np.int16)


async def connect(server: object, tenant: object = None, **body: object) -> LiveClient:
    """A conversation of ``tenant`` (default: a new one, acme) with the local avatar and
    ``body``'s other fields, and its client, connected with the microphone accepted."""
    tenant = tenant or await server.tenant("acme")  # type: ignore[attr-defined]
    conversation_id, token = await start_conversation(
        server.base_url,  # type: ignore[attr-defined]
        tenant.key,  # type: ignore[attr-defined]
        {"avatar": {"provider": "local"}, **body},
    )
    client = LiveClient(server.base_url, conversation_id, token)  # type: ignore[attr-defined]
    await client.connect(hello=MIC)
    ready = await client.wait_for("ready")
    assert ready["audio_in"]["accepted"] is True, ready["audio_in"]
    return client


async def test_spoken_answer_is_transcribed_and_answered_bad_frames_and_noise_start_nothing(
    live_server: ServerFactory,
) -> None:
    # The recognizer loads at startup, as it does by default: loaded at the first decode, on a
    # busy machine, it could take the whole utterance and leave no time for partial words.
    server = live_server(stt_warm_up=True)
    client = await connect(server)
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    assert client.ws is not None
    # Malformed frames: an error each, the conversation goes on.
    await client.ws.send(b"XX\x00\x00\x00\x00\x00\x01" + bytes(640))
    await client.ws.send(mic_frames.encode_mic_frame(1, bytes(641)))
    await client.ws.send(mic_frames.encode_mic_frame(2, bytes(6400)))
    await client.wait_for("error", code="audio_frame_too_long")
    errors = [m["code"] for m in client.messages("error")]
    assert errors == ["invalid_audio_frame", "invalid_audio_frame", "audio_frame_too_long"]
    # Silence and faint noise alone: no turn.
    mark = len(client.received)
    seq = await stream(client, np.concatenate([quiet(1.0), noise(1.5)]))
    await asyncio.sleep(0.8)
    assert not [m for m in client.messages("transcript")[1:] if m["entry"]["role"] == "user"]
    assert not [r for r in client.received[mark:] if r.message and r.message["type"] == "voice"]
    # Too fast: a burst of 4 s of audio at once is partly refused (3 s of catching up pass).
    for index in range(200):
        await client.ws.send(mic_frames.encode_mic_frame(seq + index, quiet(0.02)))
    await client.wait_for("error", after=mark, code="audio_too_fast")
    await asyncio.sleep(3.2)
    await until_loaded(server.ctx.stt)
    # Real speech: transcribed, timed, answered with audio.
    speech = piper_speech(ANSWER)
    mark = len(client.received)
    await stream(client, np.concatenate([speech, quiet(1.0)]), seq=seq + 200)
    assert len(client.messages("error")) < 3 + 60, "only the burst's excess was refused"
    said = await client.wait_for("transcript", after=mark, timeout=30)
    entry = said["entry"]
    assert entry["role"] == "user"
    assert word_errors(ANSWER, entry["text"]) <= 2, entry["text"]
    assert abs(entry["duration_ms"] - len(speech) / RATE * 1000) < 700
    assert client.messages("user_partial"), "partial words arrive while the person speaks"
    await client.wait_for("turn_end", turn_id=2, after=mark, timeout=60)
    assert [r for r in client.received[mark:] if r.frame is not None], "the agent answered aloud"
    # The spoken turn, and only it (the greeting was not spoken), is timed from the end of the
    # person's speech: at least the end silence that closed their turn.
    voice_turns = {
        line.split("{")[0]: float(line.split()[-1])
        for line in server.ctx.metrics.scrape().decode().splitlines()
        if line.startswith("visavis_voice_turn_seconds_")
    }
    assert voice_turns["visavis_voice_turn_seconds_count"] == 1
    end_silence_s = server.ctx.settings.stt_end_silence_ms / 1000
    assert end_silence_s <= voice_turns["visavis_voice_turn_seconds_sum"] < 30
    await client.close()


async def test_speech_mid_reply_interrupts_the_agent(live_server: ServerFactory) -> None:
    server = live_server()
    client = await connect(server)
    client.playback = "none"  # the greeting plays in real time
    await client.wait_for("state", state="speaking", timeout=60)
    await asyncio.sleep(0.5)

    async def speak() -> float:
        """The question, then silence; returns when its last speech sample was sent."""
        seq = await stream(client, piper_speech(STOP))
        spoken = time.monotonic()
        await stream(client, quiet(1.0), seq=seq)
        return spoken

    speaking = asyncio.create_task(speak())
    barge = await client.wait_for("voice", event="barge_in", timeout=10)
    end = await client.wait_for("turn_end", turn_id=1, timeout=10)
    assert end["interrupted"] is True and barge["at_ms"] > 0
    last_frame = max(r.at for r in client.frames())
    # Timed on the person's speech rather than a wall-clock bound (bench/voice_turns.py
    # measures how soon): the agent falls silent while the person is still asking.
    assert last_frame < await speaking, "the agent stops before the person has finished"
    await client.wait_for("turn_end", turn_id=2, timeout=60)
    await client.wait_count("transcript", 2)  # lines are shown once stored
    entries = [m["entry"] for m in client.messages("transcript")]
    assert entries[0]["role"] == "agent" and entries[0]["interrupted"] is True
    assert entries[1]["role"] == "user"
    assert word_errors(STOP, entries[1]["text"]) <= 2, entries[1]["text"]
    await client.close()


async def test_an_idle_instance_hears_the_turn_with_the_finer_model(
    live_server: ServerFactory,
) -> None:
    # VISAVIS_STT_IDLE_WHISPER_MODEL=base; no partials, so nothing else decodes at the pause.
    server = live_server(stt_warm_up=True, stt_idle_whisper_model="base", stt_partial_interval_ms=0)
    client = await connect(server)
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    await client.wait_count("transcript", 1)  # the greeting's line, shown once stored
    await until_loaded(server.ctx.stt)
    speech = piper_speech(ANSWER)
    mark = len(client.received)
    await stream(client, np.concatenate([speech, quiet(1.0)]))
    said = await client.wait_for("transcript", after=mark, timeout=30)
    assert said["entry"]["role"] == "user"
    assert word_errors(ANSWER, said["entry"]["text"]) <= 2, said["entry"]["text"]
    await client.wait_for("turn_end", turn_id=2, after=mark, timeout=60)
    heard = {
        line.split('engine="')[1].split('"')[0]: float(line.split()[-1])
        for line in server.ctx.metrics.scrape().decode().splitlines()
        if line.startswith("visavis_stt_audio_seconds_total{")
    }
    # The words at the pause went to base, which the files' engine loaded at startup.
    assert heard.get("faster-whisper:base", 0) >= len(speech) / RATE
    await client.close()


async def test_a_patient_conversation_hears_a_thinking_pause_out(
    live_server: ServerFactory,
) -> None:
    """Created with a 1.5 s end silence, the conversation keeps a person who stops for a
    second mid-sentence in one turn (the server's 600 ms would have answered the half)."""
    server = live_server(stt_warm_up=True)
    client = await connect(server, turn_taking={"end_silence_ms": 1500})
    assert client.messages("ready")[0]["audio_in"]["end_silence_ms"] == 1500
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    await client.wait_count("transcript", 1)
    await until_loaded(server.ctx.stt)
    first, rest = ANSWER.split(" at ")
    mark = len(client.received)
    seq = await stream(client, np.concatenate([piper_speech(first + "..."), quiet(1.0)]))
    await stream(client, np.concatenate([piper_speech("at " + rest), quiet(2.0)]), seq=seq)
    said = await client.wait_for("transcript", after=mark, timeout=30)
    assert said["entry"]["role"] == "user"
    assert word_errors(ANSWER, said["entry"]["text"]) <= 3, said["entry"]["text"]
    await client.wait_for("turn_end", turn_id=2, after=mark, timeout=60)
    users = [m for m in client.messages("transcript") if m["entry"]["role"] == "user"]
    assert len(users) == 1, [m["entry"]["text"] for m in users]
    await client.close()


async def test_names_from_the_conversation_and_its_plan_are_spelled_as_given(
    live_server: ServerFactory,
) -> None:
    """The conversation's vocabulary and its interview plan's reach the live recognizer:
    alone, Whisper hears "pie spark on hero coup, and should warn that Camira"."""
    server = live_server(stt_warm_up=True)
    tenant = await server.tenant("acme")
    plan = await store_plan(
        server.base_url, tenant.key, "platform", {**SHORT_PLAN, "vocabulary": ["Heroku"]}
    )
    client = await connect(server, tenant, plan=plan, vocabulary=["PySpark", "Siobhan Nakamura"])
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    await client.wait_count("transcript", 1)
    await until_loaded(server.ctx.stt)
    said = "We ran PySpark on Heroku, and Siobhan Nakamura led the team."
    mark = len(client.received)
    await stream(client, np.concatenate([piper_speech(said), quiet(1.0)]))
    heard = (await client.wait_for("transcript", after=mark, timeout=30))["entry"]["text"]
    assert all(term in heard for term in ("PySpark", "Heroku", "Siobhan Nakamura")), heard
    assert word_errors(said, heard) <= 1, heard
    await client.close()
