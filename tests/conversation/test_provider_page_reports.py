"""What the page reports back from the provider's room, over a real server and its WebSocket.

- LiveAvatar FULL: the page relays ``avatar.speak_started/ended`` from ``agent-response`` as
  ``provider_event``; they, not the estimate, time the agent's speech in the transcript. A page
  that relays nothing leaves the estimate.
- Any provider: ``avatar_quality`` reports become ``avatar_quality_changed`` events (``GET
  /v1/events``), rate-limited so a flapping link cannot flood the event store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conversation.test_provider_avatars import open_conversation
from tests.fakes.liveavatar import serve_liveavatar
from tests.live_server import RunningServer, ServerFactory

#: The fake speaks a third as long as our estimate (60 ms a character), so the two differ.
FAKE_MS_PER_CHAR = 20.0
ESTIMATE_MS_PER_CHAR = 60.0


def full_settings(fake: Any) -> dict[str, Any]:
    return {
        "liveavatar_base_url": fake.base_url,
        "liveavatar_api_key": "test-liveavatar-key",
        "liveavatar_mode": "FULL",
        "liveavatar_context_id": "ctx-interviewer",
        "sweeper_interval_s": 3600,
    }


def page_relay(
    fake: Any,
    send: Callable[[dict[str, Any]], Awaitable[float]] | None,
    tasks: set[Any],
    *,
    lose_first_end: bool = False,
) -> Callable[[str], Awaitable[None]]:
    """The page: publish each packet on ``agent-control``; relay the avatar's answers from
    ``agent-response`` as they come (``speak_ended`` once the fake has spoken for as long as
    it says), unless ``send`` is None (a page that relays nothing back). ``lose_first_end``:
    the first ``speak_ended`` never arrives."""
    lost: list[dict[str, Any]] = []

    async def publish(data: str) -> None:
        open_now = fake.fake.open_sessions()
        if not open_now:
            return  # the face was stopped: the page has left its room
        session_id = open_now[-1]["session_id"]
        async with httpx.AsyncClient(base_url=fake.base_url) as http:
            answer = (await http.post(f"/_fake/datachannel/{session_id}", content=data)).json()
        if not fake.fake.open_sessions():
            return  # stopped meanwhile: a room being left drops the packet
        assert answer["accepted"], answer
        if send is None:
            return
        for event in answer["events"]:
            if lose_first_end and event["event_type"] == "avatar.speak_ended" and not lost:
                lost.append(event)
                continue
            delay_s = event.get("duration_ms", 0) / 1000
            tasks.add(asyncio.create_task(later(delay_s, event)))

    async def later(delay_s: float, event: dict[str, Any]) -> None:
        await asyncio.sleep(delay_s)
        assert send is not None
        await send({"type": "provider_event", "data": json.dumps(event)})

    return publish


async def agent_entries(client: Any) -> list[dict[str, Any]]:
    """The agent's stored lines so far, once the first one came (it may follow ``turn_end``)."""
    await client.wait_line("agent")
    return [m["entry"] for m in client.messages("transcript") if m["entry"]["role"] == "agent"]


@pytest.mark.parametrize(
    ("relays", "lose_first_end"),
    [(True, False), (True, True), (False, False)],
    ids=["events", "one-end-lost", "estimate"],
)
async def test_full_mode_speech_is_timed_by_the_avatars_own_events(
    live_server: ServerFactory, relays: bool, lose_first_end: bool
) -> None:
    with serve_liveavatar(playback_rate=0.0, ms_per_char=FAKE_MS_PER_CHAR) as fake:
        server = live_server(**full_settings(fake))
        client, _ = await open_conversation(server, "liveavatar", playback="none")
        tasks: set[Any] = set()
        client.on_provider_message = page_relay(
            fake, client.send if relays else None, tasks, lose_first_end=lose_first_end
        )
        await client.connect()
        await client.wait_for("ready")
        await client.wait_for("turn_end", turn_id=1, timeout=60)
        (greeting,) = await agent_entries(client)
        sentences = [m["text"] for m in client.messages("sentence")]
        chars = sum(len(s) for s in sentences)
        assert len(sentences) >= 2 and " ".join(sentences) == greeting["text"]
        spoken_ms = chars * FAKE_MS_PER_CHAR
        if lose_first_end:
            # The first sentence is waited for by its estimate; the next one's end also ends
            # it, and the rest is timed by the events again.
            first_estimate = len(sentences[0]) * ESTIMATE_MS_PER_CHAR
            assert spoken_ms * 0.9 <= greeting["duration_ms"] <= first_estimate + spoken_ms
            assert greeting["duration_ms"] < chars * ESTIMATE_MS_PER_CHAR
        elif relays:
            # From the first speak_started to the last speak_ended: the fake's time, give or
            # take the loopback hops, and a third of what the estimate would have said.
            assert spoken_ms * 0.9 <= greeting["duration_ms"] <= spoken_ms + 600
        else:
            assert greeting["duration_ms"] >= chars * ESTIMATE_MS_PER_CHAR * 0.95
        assert not any(m.get("degraded") for m in client.messages("state"))
        await client.send({"type": "end"})
        await client.wait_closed()
        for task in tasks:
            task.cancel()


async def test_a_relayed_session_stopped_falls_back_to_the_local_voice(
    live_server: ServerFactory,
) -> None:
    with serve_liveavatar(playback_rate=0.0) as fake:
        server = live_server(**full_settings(fake))
        client, _ = await open_conversation(server, "liveavatar", playback="none")
        client.on_provider_message = page_relay(fake, None, set())
        await client.connect()
        await client.wait_for("ready")
        stopped = {"event_type": "session.stopped", "end_reason": "NO_CREDITS"}
        await client.send({"type": "provider_event", "data": json.dumps(stopped)})
        state = await client.wait_for("state", degraded=True, timeout=30)
        assert state["reason"] == "provider_error"
        await client.send({"type": "end"})
        await client.wait_closed()


BAD_REPORTS = [
    ({"type": "provider_event"}, "'data'"),
    ({"type": "provider_event", "data": ""}, "1–4096"),
    ({"type": "provider_event", "data": "x" * 5000}, "1–4096"),
    ({"type": "avatar_quality", "quality": "great", "reason": "connection_quality"}, "one of"),
    ({"type": "avatar_quality", "quality": "poor", "reason": "bad link!"}, "'reason' word"),
    ({"type": "avatar_quality", "quality": "poor"}, "'reason' word"),
]


async def test_bad_reports_get_an_error_and_the_socket_stays_open(
    live_server: ServerFactory,
) -> None:
    with serve_liveavatar(playback_rate=0.0) as fake:
        server = live_server(**full_settings(fake))
        client, _ = await open_conversation(server, "liveavatar")
        await client.connect()
        await client.wait_for("ready")
        for message, complaint in BAD_REPORTS:
            after = len(client.received)
            await client.send(message)
            error = await client.wait_for("error", code="invalid_message", after=after)
            assert complaint in error["message"], (message, error)
        await client.send({"type": "ping"})
        await client.wait_for("pong")
        await client.send({"type": "end"})
        await client.wait_closed()


async def quality_events(server: RunningServer, key: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        answer = await http.get(
            "/v1/events",
            params={"type": "avatar_quality_changed"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def test_quality_changes_become_events_and_a_flapping_link_is_folded(
    live_server: ServerFactory,
) -> None:
    with serve_liveavatar(playback_rate=0.0) as fake:
        server = live_server(**full_settings(fake))
        client, key = await open_conversation(server, "liveavatar")
        client.on_provider_message = page_relay(fake, None, set())
        await client.connect()
        await client.wait_for("ready")

        async def report(quality: str, reason: str = "connection_quality") -> None:
            await client.send({"type": "avatar_quality", "quality": quality, "reason": reason})

        await report("excellent")  # the first report of a good link is the baseline
        await report("poor")
        await report("good")
        await report("lost", "network_quality")
        for _ in range(20):  # then the link flaps
            await report("poor")
            await report("good")
        await report("poor")
        await client.send({"type": "ping"})
        await client.wait_for("pong")  # every report has been handled
        events: list[dict[str, Any]] = []
        for _ in range(50):  # the events are written by the conversation's recorder
            events = await quality_events(server, key)
            if len(events) >= 3:
                break
            await asyncio.sleep(0.1)
        changes = [(e["data"]["from"], e["data"]["to"], e["data"]["reason"]) for e in events]
        # Three at once (the burst), then nothing until the interval has passed: the 41
        # changes of the flapping link are one event later, not 41 now.
        assert changes == [
            ("excellent", "poor", "connection_quality"),
            ("poor", "good", "connection_quality"),
            ("good", "lost", "network_quality"),
        ]
        assert all(e["data"]["provider"] == "liveavatar" for e in events)
        assert all(e["conversation_id"] == client.conversation_id for e in events)
        assert all(e["data"]["changes"] == 1 for e in events)
        await asyncio.sleep(0.5)
        assert len(await quality_events(server, key)) == 3
        await client.send({"type": "end"})
        await client.wait_closed()
