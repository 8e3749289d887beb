"""Every other provider through a whole conversation, against its fake over a real server.

LiveAvatar LITE and Akool have their own conversation tests (``test_provider_avatars.py``);
here LiveAvatar FULL, Simli and Tavus go the same way: start, the greeting's sentences on the
face (our audio, or text relayed by the browser), an interrupt mid-reply, the face failing
mid-turn with no sentence lost, and the end with its cost recorded and the quota settled.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conversation.live_client import LiveClient, start_conversation, store_plan
from tests.conversation.test_provider_avatars import open_conversation, records, until
from tests.conversation.test_provider_late_join import reservation
from tests.fakes.liveavatar import DEFAULT_AVATARS, serve_liveavatar
from tests.fakes.simli import DEFAULT_FACES, serve_simli
from tests.fakes.tavus import DEFAULT_FACES as TAVUS_FACES
from tests.fakes.tavus import serve_tavus
from tests.live_server import ServerFactory


@dataclass
class Case:
    """A provider under test: its settings, avatar, media kind and how its fake reads."""

    provider: str
    fake: Any
    settings: dict[str, Any]
    avatar_id: str | None
    media_kind: str
    #: Where the browser relays data-channel messages (text-driven faces), by session.
    relay_path: str | None

    def session(self) -> dict[str, Any]:
        (only,) = self.fake.fake.open_sessions()
        return dict(only)

    def key(self, held: dict[str, Any]) -> str:
        return str(held.get("conversation_id") or held.get("session_id"))

    def said(self, held: dict[str, Any]) -> int:
        """How many utterances (or seconds, for Simli) reached the face."""
        if self.provider == "simli":
            return len(held["frames"])
        if self.provider == "tavus":
            return len(held["echoes"])
        return len(held["utterances"])

    def interrupted(self, held: dict[str, Any]) -> bool:
        if self.provider == "simli":
            return bool(held["skips"])
        if self.provider == "tavus":
            return bool(held["interrupts"])
        return any(u.get("interrupted") for u in held["utterances"])


@pytest.fixture(params=["liveavatar-full", "simli", "tavus"])
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    with ExitStack() as stack:
        if request.param == "liveavatar-full":
            fake = stack.enter_context(serve_liveavatar(playback_rate=0.0))
            settings = {
                "liveavatar_base_url": fake.base_url,
                "liveavatar_api_key": "test-liveavatar-key",
                "liveavatar_mode": "FULL",
                "liveavatar_context_id": "ctx-interviewer",
            }
            yield Case(
                "liveavatar", fake, settings, DEFAULT_AVATARS[0][0], "livekit", "datachannel"
            )
        elif request.param == "simli":
            fake = stack.enter_context(serve_simli())
            settings = {"simli_base_url": fake.base_url, "simli_api_key": "test-simli-key"}
            yield Case("simli", fake, settings, DEFAULT_FACES[0], "livekit", None)
        else:
            fake = stack.enter_context(serve_tavus())
            settings = {
                "tavus_base_url": fake.base_url,
                "tavus_api_key": "test-tavus-key",
                "tavus_pal_id": "p-echo-fake",
            }
            yield Case("tavus", fake, settings, TAVUS_FACES[0][0], "daily", "appmessage")


def relay(case: Case) -> Callable[[str], Awaitable[None]] | None:
    """What the page does with provider messages: publish them in the provider's room."""
    if case.relay_path is None:
        return None

    async def publish(data: str) -> None:
        open_now = case.fake.fake.open_sessions()
        if not open_now:
            return  # the face was stopped: the page has left its room, the message goes nowhere
        session_id = case.key(open_now[-1])
        async with httpx.AsyncClient(base_url=case.fake.base_url) as http:
            answer = await http.post(f"/_fake/{case.relay_path}/{session_id}", content=data)
        # A session stopped meanwhile refuses it, as a room being left would drop it.
        if case.fake.fake.open_sessions():
            assert answer.json().get("accepted"), answer.text

    return publish


async def test_a_conversation_on_the_face_from_start_to_cost(
    live_server: ServerFactory, case: Case
) -> None:
    server = live_server(sweeper_interval_s=3600, **case.settings)
    tenant = await server.tenant(f"t-{uuid.uuid4().hex[:8]}")
    avatar: dict[str, Any] = {"provider": case.provider}
    if case.avatar_id is not None:
        avatar["avatar_id"] = case.avatar_id
    body = {"avatar": avatar, "plan": await store_plan(server.base_url, tenant.key)}
    conversation_id, token = await start_conversation(server.base_url, tenant.key, body)
    client = LiveClient(server.base_url, conversation_id, token)
    client.on_provider_message = relay(case)
    await client.connect()

    # Start: the face is up, and the greeting's sentences are all on it.
    ready = await client.wait_for("ready")
    media = (
        ready["avatar"]["media"]
        or (await client.wait_for("avatar", status="ready", timeout=10))["media"]
    )
    assert media["kind"] == case.media_kind
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    greeting = [m for m in client.messages("sentence") if m["turn_id"] == 1]
    assert len(greeting) >= 3
    assert client.frames() == [], "the face speaks: no local audio"
    held = case.session()
    assert case.said(held) >= (1 if case.provider == "simli" else len(greeting))
    assert held.get("violations", []) == []

    # Interrupted mid-reply: the face is told to stop.
    mark = len(client.received)
    await client.send({"type": "user_text", "text": "I build payment systems in Go and Python."})
    await client.wait_for("sentence", after=mark, timeout=30)
    await client.send({"type": "interrupt"})
    assert (await client.wait_for("turn_end", after=mark, timeout=30))["interrupted"] is True
    await until(lambda: case.interrupted(case.session()))

    # The face fails mid-turn (the browser lost its media): the rest is heard locally.
    mark = len(client.received)
    lines_before = len(client.messages("transcript"))
    await client.send({"type": "user_text", "text": "Mostly backend services in Rust, lately."})
    await client.wait_for("sentence", after=mark, timeout=30)
    await client.send({"type": "avatar_status", "status": "failed", "reason": "ice failed"})
    await client.wait_for("state", degraded=True, timeout=10)
    end = await client.wait_for("turn_end", after=mark, timeout=60)
    assert end["interrupted"] is False
    said = [m for m in client.messages("sentence") if m["turn_id"] == end["turn_id"]]
    # The turn's stored line (lines follow their turns: an earlier turn's may still come first).
    told = " ".join(m["text"] for m in said)
    await until(
        lambda: any(
            m["entry"]["role"] == "agent" and m["entry"]["text"] == told
            for m in client.messages("transcript")[lines_before:]
        )
    )
    assert any(r.frame for r in client.received[mark:]), "the local voice took over"
    await until(lambda: case.fake.fake.open_sessions() == [])

    # The end: the session's cost is recorded and the quota settled with it.
    await client.send({"type": "end"})
    assert await client.wait_closed() == 1000
    rows, events = await records(server, client.conversation_id)
    assert [r.status for r in rows] == ["stopped"]
    assert rows[0].streaming_seconds > 0 and rows[0].cost_microusd > 0
    assert "fallback" in [e.kind for e in events]
    held_quota = await reservation(server, client.conversation_id)
    assert held_quota is not None and held_quota.status == "settled"
    assert held_quota.cost_microusd == rows[0].cost_microusd


async def test_liveavatar_full_renews_past_the_session_limit_without_a_cut_utterance(
    live_server: ServerFactory,
) -> None:
    with serve_liveavatar(max_session_duration_s=6.0, playback_rate=0.0) as fake:
        settings = {
            "liveavatar_base_url": fake.base_url,
            "liveavatar_api_key": "test-liveavatar-key",
            "liveavatar_mode": "FULL",
            "liveavatar_context_id": "ctx-interviewer",
        }
        server = live_server(sweeper_interval_s=3600, **settings)
        client, _ = await open_conversation(server, "liveavatar", short=False)

        async def publish(data: str) -> None:
            # The page publishes in the room it is in: the newest session once it joined it.
            newest = fake.fake.open_sessions()[-1]["session_id"]
            async with httpx.AsyncClient(base_url=fake.base_url) as http:
                answer = await http.post(f"/_fake/datachannel/{newest}", content=data)
            assert answer.json().get("accepted"), answer.text

        client.on_provider_message = publish
        await client.connect()
        await client.wait_for("ready")
        # The greeting alone lasts longer than one session may.
        await client.wait_for("turn_end", turn_id=1, timeout=90)
        assert not any(m.get("degraded") for m in client.messages("state"))
        sessions = fake.fake.all_sessions()
        assert len(sessions) >= 2
        utterances = [u for s in sessions for u in s["utterances"]]
        assert len(utterances) == len(client.messages("sentence"))
        assert not any(u.get("interrupted") for u in utterances), "no utterance was cut"
        await client.send({"type": "end"})
        await client.wait_closed()
        await until(lambda: fake.fake.open_sessions() == [])
        rows, events = await records(server, client.conversation_id)
        assert len(rows) >= 2 and all(r.status == "stopped" for r in rows)
        assert "renewed" in [e.kind for e in events]
        held = await reservation(server, client.conversation_id)
        assert held is not None and held.status == "settled"
        assert held.cost_microusd == sum(r.cost_microusd for r in rows)
