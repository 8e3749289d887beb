"""Conversations with LiveAvatar and Akool avatars, against their fake servers over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conversation.live_client import LiveClient, start_conversation, store_plan
from tests.fakes.akool import serve_akool
from tests.fakes.liveavatar import DEFAULT_AVATARS, serve_liveavatar
from tests.live_server import RunningServer, ServerFactory
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.models import AvatarSession, AvatarSessionEvent, UsageMonth

LIVEAVATAR_KEY = "test-liveavatar-key"
AKOOL_KEY = "test-akool-key"


@pytest.fixture
def liveavatar() -> Iterator[Any]:
    with serve_liveavatar() as fake:
        yield fake


@pytest.fixture
def akool() -> Iterator[Any]:
    with serve_akool(polls_to_ready=1) as fake:
        yield fake


def provider_settings(liveavatar: Any, akool: Any, **extra: Any) -> dict[str, Any]:
    return {
        "liveavatar_base_url": liveavatar.base_url,
        "liveavatar_api_key": LIVEAVATAR_KEY,
        "akool_base_url": akool.base_url,
        "akool_api_key": AKOOL_KEY,
        "sweeper_interval_s": 3600,  # the sweeper has its own tests
    } | extra


async def open_conversation(
    server: RunningServer, provider: str, *, short: bool = True, **client: Any
) -> tuple[LiveClient, str]:
    tenant = await server.tenant(f"t-{uuid.uuid4().hex[:8]}")
    avatar_id = DEFAULT_AVATARS[0][0] if provider == "liveavatar" else "Wayne_1"
    body: dict[str, Any] = {"avatar": {"provider": provider, "avatar_id": avatar_id}}
    if short:  # a short interview keeps the test quick; renewal needs the long greeting
        body["plan"] = await store_plan(server.base_url, tenant.key)
    conversation_id, token = await start_conversation(server.base_url, tenant.key, body)
    return LiveClient(server.base_url, conversation_id, token, **client), tenant.key


def relay_to(fake: Any) -> Any:
    """What the browser does with Akool's provider messages: send them on the data stream."""

    async def relay(data: str) -> None:
        sessions = fake.fake.open_sessions()
        assert sessions, "a provider message arrived while no Akool session is open"
        async with httpx.AsyncClient(base_url=fake.base_url) as http:
            await http.post(f"/_fake/datastream/{sessions[-1]['session_id']}", content=data)

    return relay


async def records(server: RunningServer, conversation_id: str) -> tuple[list[Any], list[Any]]:
    engine = create_engine(server.ctx.settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            cid = uuid.UUID(conversation_id)
            rows = (
                (
                    await db.execute(
                        select(AvatarSession).where(AvatarSession.conversation_id == cid)
                    )
                )
                .scalars()
                .all()
            )
            events = (
                (
                    await db.execute(
                        select(AvatarSessionEvent)
                        .where(AvatarSessionEvent.conversation_id == cid)
                        .order_by(AvatarSessionEvent.id)
                    )
                )
                .scalars()
                .all()
            )
            return list(rows), list(events)
    finally:
        await engine.dispose()


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("provider", ["liveavatar", "akool"])
async def test_provider_conversation_speaks_is_interrupted_and_ends_with_cost(
    live_server: ServerFactory, liveavatar: Any, akool: Any, provider: str
) -> None:
    fake = liveavatar if provider == "liveavatar" else akool
    server = live_server(**provider_settings(liveavatar, akool))
    client, key = await open_conversation(server, provider)
    # The provider session starts at creation, before the browser connects.
    await until(lambda: len(fake.fake.open_sessions()) == 1)
    if provider == "akool":
        client.on_provider_message = relay_to(akool)
    await client.connect()
    ready = await client.wait_for("ready")
    avatar = ready["avatar"]
    assert avatar["enabled"] is True and avatar["provider"] == provider
    # A face that takes a moment longer to start joins with an ``avatar`` message.
    media = avatar["media"] or (await client.wait_for("avatar", enabled=True, timeout=10))["media"]
    if provider == "liveavatar":
        assert media["kind"] == "livekit" and media["url"] and media["access_token"]
    else:
        assert media["kind"] == "agora" and media["channel"] and media["token"]
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    sentences = [m["text"] for m in client.messages("sentence")]
    assert len(sentences) >= 3
    assert client.frames() == [], "the provider speaks: no local audio"
    session = fake.fake.open_sessions()[0]
    if provider == "liveavatar":
        # LITE: our voice drives the face, one event_id per sentence, none cut.
        utterances = session["utterances"]
        assert len(utterances) == len(sentences)
        assert all(u["ended"] and not u["interrupted"] for u in utterances)
        assert session["violations"] == [] and session["dropped_before_connected"] == 0
    else:
        stream = akool.fake.datastream(session["session_id"])
        assert stream["violations"] == [] and akool.fake.all_violations() == []
        assert list(stream["chat_texts"].values()) == sentences

    mark = len(client.received)
    await client.send({"type": "user_text", "text": "I build payment systems in Go and Python."})
    await client.wait_for("sentence", after=mark)
    if provider == "liveavatar":  # the face is speaking the new reply
        said = len(session["utterances"])
        await until(lambda: len(fake.fake.open_sessions()[0]["utterances"]) > said)
    await client.send({"type": "interrupt"})
    assert (await client.wait_for("turn_end", after=mark))["interrupted"] is True
    if provider == "liveavatar":
        await until(lambda: fake.fake.open_sessions()[0]["utterances"][-1]["interrupted"])
    else:
        sid = session["session_id"]
        await until(lambda: akool.fake.datastream(sid)["commands"].count("interrupt") >= 1)

    await client.send({"type": "end"})
    assert await client.wait_closed() == 1000
    await until(lambda: fake.fake.open_sessions() == [])
    rows, events = await records(server, client.conversation_id)
    assert [r.status for r in rows] == ["stopped"]
    assert rows[0].stop_reason == "conversation_ended"
    assert rows[0].cost_microusd > 0 and rows[0].streaming_seconds > 0
    assert rows[0].browser_token_encrypted is None
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["creating", "started"] and kinds[-1] == "stopped"
    engine = create_engine(server.ctx.settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            month = (await db.execute(select(UsageMonth))).scalars().all()
            assert sum(m.cost_microusd for m in month) == rows[0].cost_microusd
    finally:
        await engine.dispose()


@pytest.mark.parametrize("provider", ["liveavatar", "akool"])
async def test_renewal_past_the_duration_limit_cuts_no_utterance(
    live_server: ServerFactory, provider: str
) -> None:
    with (
        serve_liveavatar(max_session_duration_s=6.0) as liveavatar,
        serve_akool(polls_to_ready=1) as akool,
    ):
        server = live_server(**provider_settings(liveavatar, akool, akool_session_duration_s=10))
        fake = liveavatar if provider == "liveavatar" else akool
        client, _ = await open_conversation(server, provider, short=False)
        if provider == "akool":
            client.on_provider_message = relay_to(akool)
        await client.connect()
        await client.wait_for("ready")
        # The greeting alone lasts longer than one session may.
        await client.wait_for("turn_end", turn_id=1, timeout=90)
        renewed = client.messages("avatar")
        assert renewed and renewed[-1]["media"] and renewed[-1]["enabled"] is True
        assert not any(m.get("degraded") for m in client.messages("state"))
        sessions = fake.fake.all_sessions()
        assert len(sessions) >= 2
        if provider == "liveavatar":
            utterances = [u for s in sessions for u in s["utterances"]]
            assert not any(u["interrupted"] for u in utterances), "no utterance was cut"
            assert len(utterances) == len(client.messages("sentence"))
        else:
            assert akool.fake.all_violations() == []
        await client.send({"type": "end"})
        await client.wait_closed()
        await until(lambda: fake.fake.open_sessions() == [])
        rows, events = await records(server, client.conversation_id)
        assert len(rows) >= 2 and all(r.status == "stopped" for r in rows)
        assert "renewed" in [e.kind for e in events]
        assert any(r.stop_reason == "renewed" for r in rows)
        renewals = f'visavis_avatar_renewals_total{{outcome="renewed",provider="{provider}"}} '
        scrape = server.ctx.metrics.scrape().decode()
        assert any(
            line.startswith(renewals) and float(line.split()[-1]) >= 1
            for line in scrape.splitlines()
        ), scrape


@pytest.mark.parametrize("knobs", [{"fail_next": 100, "fail_status": 500}, {"latency_s": 5.0}])
async def test_provider_down_or_slow_speaks_audio_only_within_3_s(
    live_server: ServerFactory, knobs: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with serve_liveavatar(**knobs) as liveavatar, serve_akool() as akool:
        settings = provider_settings(
            liveavatar, akool, provider_timeout_s=2.0, avatar_join_limit_s=6.0
        )
        server = live_server(**settings)
        await asyncio.to_thread(server.ctx.tts.load)  # type: ignore[attr-defined]
        client, _ = await open_conversation(server, "liveavatar")
        await client.connect()
        started = time.monotonic()
        first_audio = await client.wait_frame()
        assert first_audio.at - started < 3.0
        if "latency_s" in knobs:
            # Slow, not down: the local voice speaks while the face may still join...
            waiting = await client.wait_for("avatar", reason="timeout", timeout=10)
            assert waiting["enabled"] is True and waiting["status"] == "connecting"
        # ... until the join limit, when it is given up for good.
        state = await client.wait_for("state", degraded=True, timeout=20)
        assert state["reason"] in ("connection_failed", "timeout", "provider_error")
        update = await client.wait_for("avatar", fallback="audio", timeout=5)
        assert update["enabled"] is False
        assert time.monotonic() - started < 6.0 + 5.0  # within the join limit (and a margin)
        await client.close()
        liveavatar.configure(fail_next=0, latency_s=0.0)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_provider_dying_mid_turn_falls_back_without_losing_a_sentence(
    live_server: ServerFactory, liveavatar: Any, akool: Any
) -> None:
    server = live_server(**provider_settings(liveavatar, akool))
    client, _ = await open_conversation(server, "liveavatar")
    await client.connect()
    await client.wait_for("sentence", turn_id=1)
    liveavatar.fake.kill_sessions("all")
    await client.wait_for("state", degraded=True, timeout=10)
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    announced = [m["utterance_id"] for m in client.messages("sentence")]
    said_remotely = sum(
        1 for s in liveavatar.fake.all_sessions() for u in s["utterances"] if u["finished"]
    )
    local = {r.frame.utterance_id for r in client.frames() if r.frame}
    # The face said the first ones to the end; every other sentence was heard locally.
    for uid in announced[said_remotely:]:
        assert uid in local, f"utterance {uid} was lost"
    assert local, "the sentences after the failure are spoken with the local voice"
    assert announced == sorted(announced)
    update = client.messages("avatar")[-1]
    assert update["enabled"] is False and update["fallback"] == "audio"
    await client.close()


async def test_browser_media_failure_and_avatar_toggle(
    live_server: ServerFactory, liveavatar: Any, akool: Any
) -> None:
    server = live_server(**provider_settings(liveavatar, akool))
    client, _ = await open_conversation(server, "liveavatar")
    await client.connect()
    await client.wait_for("turn_end", turn_id=1, timeout=60)

    await client.send({"type": "avatar_toggle", "enabled": False})
    off = await client.wait_for("avatar", enabled=False)
    assert off["reason"] == "user_disabled"
    await until(lambda: liveavatar.fake.open_sessions() == [])
    mark = len(client.received)
    await client.send({"type": "user_text", "text": "Mostly backend services in Rust."})
    await client.wait_for("turn_end", turn_id=2, after=mark, timeout=60)
    assert any(r.frame for r in client.received[mark:]), "audio-only: the local voice speaks"

    await client.send({"type": "avatar_toggle", "enabled": True})
    on = await client.wait_for("avatar", enabled=True, after=mark, timeout=10)
    assert on["media"]["kind"] == "livekit"
    await until(lambda: len(liveavatar.fake.open_sessions()) == 1)

    await client.send({"type": "avatar_status", "status": "failed", "reason": "ice failed"})
    await client.wait_for("state", degraded=True)
    await until(lambda: liveavatar.fake.open_sessions() == [])
    mark = len(client.received)
    await client.send({"type": "user_text", "text": "I also mentor two junior engineers."})
    await client.wait_for("turn_end", turn_id=3, after=mark, timeout=60)
    assert any(r.frame for r in client.received[mark:])
    await client.close()
