"""The live conversation end to end: a real WebSocket, the real voice, the real store.

The pipeline's behaviour is covered in process by test_session_in_process.py and
test_interruption_matrix.py; these check that the same holds through the socket and Piper.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conversation.live_client import LiveClient, start_conversation
from tests.live_server import ServerFactory


async def _client(server: object, name: str = "acme", **kwargs: object) -> tuple[LiveClient, str]:
    tenant = await server.tenant(name)  # type: ignore[attr-defined]
    conversation_id, token = await start_conversation(
        server.base_url,  # type: ignore[attr-defined]
        tenant.key,
        {"avatar": {"provider": "local"}},
    )
    client = LiveClient(server.base_url, conversation_id, token, **kwargs)  # type: ignore[attr-defined, arg-type]
    return client, tenant.key


async def test_greeting_turn_streams_sentences_audio_and_visemes_on_one_clock(
    live_server: ServerFactory,
) -> None:
    server = live_server()
    client, _ = await _client(server)
    await client.connect()
    ready = await client.wait_for("ready")
    assert ready["audio"] == {
        "format": "pcm_s16le",
        "channels": 1,
        "sample_rate": 24000,
        "header_bytes": 12,
    }
    assert ready["avatar"]["enabled"] is True
    assert ready["avatar"]["provider"] == "local"
    await client.wait_for("turn_end", turn_id=1)
    await client.wait_for("state", state="listening")
    states = [m["state"] for m in client.messages("state")]
    assert states[:3] == ["thinking", "speaking", "listening"]

    sentences = client.messages("sentence")
    visemes = {m["utterance_id"]: m for m in client.messages("visemes")}
    ends = {m["utterance_id"]: m for m in client.messages("utterance_end")}
    assert len(sentences) >= 2
    for sentence in sentences:
        uid = sentence["utterance_id"]
        frames = [r.frame for r in client.frames() if r.frame and r.frame.utterance_id == uid]
        assert [f.seq for f in frames] == list(range(len(frames)))
        samples = sum(len(f.pcm) for f in frames) // 2
        assert abs(samples / 24000 * 1000 - visemes[uid]["duration_ms"]) <= 1
        assert ends[uid]["frames"] == len(frames)
        cues = visemes[uid]["cues"]
        assert cues[0]["t"] == 0
        assert abs(cues[-1]["t"] + cues[-1]["d"] - visemes[uid]["duration_ms"] / 1000) < 0.02
        assert {c["s"] for c in cues} - {"X"}, "a spoken sentence moves the mouth"
        assert visemes[uid]["method"] == "phones"
    # Sentence text and visemes arrive before that utterance's first frame.
    first_frame = next(i for i, r in enumerate(client.received) if r.frame)
    kinds = [r.message["type"] for r in client.received[:first_frame] if r.message]
    assert "sentence" in kinds and "visemes" in kinds

    metrics = await client.wait_for("metrics", turn_id=1)
    assert metrics["first_delta_ms"] is not None
    assert metrics["first_audio_ms"] >= metrics["first_delta_ms"]
    assert metrics["synthesis_rtf"] > 1
    await client.close()


async def _transcript_when_written(
    http: httpx.AsyncClient, conversation_id: str, *, count: int
) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while True:
        items = (await http.get(f"/v1/conversations/{conversation_id}/transcript")).json()["items"]
        if len(items) >= count or time.monotonic() > deadline:
            return items  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)


async def test_interrupt_stops_audio_within_100_ms_and_keeps_only_what_was_heard(
    live_server: ServerFactory,
) -> None:
    server = live_server()
    client, key = await _client(server, playback="none")
    await client.connect()
    await client.wait_for("state", state="speaking")
    first_sentence = await client.wait_for("sentence")
    uid = first_sentence["utterance_id"]
    await asyncio.sleep(0.6)
    await client.send({"type": "playback", "utterance_id": uid, "position_ms": 500})
    interrupted_at = await client.send({"type": "interrupt"})
    end = await client.wait_for("turn_end", turn_id=1)
    assert end["interrupted"] is True
    await client.wait_for("state", state="listening")
    await asyncio.sleep(0.5)
    late = [r for r in client.frames() if r.at > interrupted_at + 0.1]
    assert late == [], f"{len(late)} frames arrived more than 100 ms after the interrupt"
    entry = (await client.wait_for("transcript"))["entry"]
    assert entry["interrupted"] is True
    assert 0 < len(entry["text"]) < len(first_sentence["text"]) + 1
    assert first_sentence["text"].startswith(entry["text"].split()[0])
    assert 400 <= entry["duration_ms"] <= 700
    await client.close()

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        items = await _transcript_when_written(http, client.conversation_id, count=1)
        assert items[0]["interrupted"] is True
        assert items[0]["text"] == entry["text"]
