"""A LiveAvatar LITE face slower than the start deadline, through a real server and the fake.

The conversation speaks at once with the local voice; the face joins when it is up (the next
reply is on the face, with our audio) and its quota is settled by the seconds it really ran;
a face that never comes within the join limit is given up, and its reservation released.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.conversation.test_provider_avatars import (
    open_conversation,
    provider_settings,
    records,
    until,
)
from tests.fakes.akool import serve_akool
from tests.fakes.liveavatar import serve_liveavatar
from tests.live_server import RunningServer, ServerFactory
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.models import Conversation, QuotaReservation


async def reservation(server: RunningServer, conversation_id: str) -> QuotaReservation | None:
    engine = create_engine(server.ctx.settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            conversation = await db.get(Conversation, uuid.UUID(conversation_id))
            assert conversation is not None
            if conversation.quota_reservation_id is None:
                return None
            return await db.get(QuotaReservation, conversation.quota_reservation_id)
    finally:
        await engine.dispose()


async def test_a_slow_face_joins_late_and_is_billed_for_what_it_ran(
    live_server: ServerFactory,
) -> None:
    with serve_liveavatar(connect_delay_s=5.0) as liveavatar, serve_akool() as akool:
        server = live_server(**provider_settings(liveavatar, akool))
        client, _ = await open_conversation(server, "liveavatar")
        await client.connect()
        ready = await client.wait_for("ready")
        assert ready["avatar"]["enabled"] is True
        # The greeting starts with the local voice, well before the face is up.
        await client.wait_frame(timeout=10)
        waiting = await client.wait_for("avatar", reason="timeout", timeout=10)
        assert waiting["status"] == "connecting" and waiting["enabled"] is True
        joined = await client.wait_for("avatar", status="ready", timeout=20)
        assert joined["media"]["kind"] == "livekit" and joined["reason"] is None
        await client.wait_for("turn_end", turn_id=1, timeout=60)
        frames = len(client.frames())
        mark = len(client.received)
        await client.send({"type": "user_text", "text": "I build payment systems in Go."})
        end = await client.wait_for("turn_end", after=mark, timeout=60)
        assert end["interrupted"] is False
        # The new reply is on the face, in our voice: utterances at the fake, no local frames.
        said = [r.message for r in client.received[mark:] if r.message]
        assert any(m["type"] == "sentence" for m in said)
        session = liveavatar.fake.open_sessions()[0]
        assert session["utterances"] and all(u["ended"] for u in session["utterances"])
        assert session["violations"] == [] and session["dropped_before_connected"] == 0
        assert len(client.frames()) == frames
        await client.send({"type": "end"})
        assert await client.wait_closed() == 1000
        await until(lambda: liveavatar.fake.open_sessions() == [])
        rows, events = await records(server, client.conversation_id)
        (row,) = rows
        assert row.status == "stopped" and row.stop_reason == "conversation_ended"
        assert row.streaming_seconds > 0 and row.cost_microusd > 0
        kinds = [e.kind for e in events]
        assert kinds.index("waiting") < kinds.index("started") < kinds.index("joined")
        assert "fallback" not in kinds
        held = await reservation(server, client.conversation_id)
        assert held is not None
        assert held.status == "settled" and held.cost_microusd == row.cost_microusd
        assert held.actual_seconds is not None
        assert abs(held.actual_seconds - row.streaming_seconds) <= 1


async def test_a_face_that_never_comes_is_given_up_at_the_join_limit(
    live_server: ServerFactory,
) -> None:
    with serve_liveavatar(connect_delay_s=60.0) as liveavatar, serve_akool() as akool:
        settings: dict[str, Any] = provider_settings(liveavatar, akool, avatar_join_limit_s=5.0)
        server = live_server(**settings)
        client, _ = await open_conversation(server, "liveavatar")
        await client.connect()
        await client.wait_frame(timeout=10)
        await client.wait_for("avatar", reason="timeout", timeout=10)
        gone = await client.wait_for("avatar", fallback="audio", timeout=20)
        assert gone["enabled"] is False and gone["reason"] == "timeout"
        await client.wait_for("turn_end", turn_id=1, timeout=60)
        await client.send({"type": "end"})
        await client.wait_closed()
        await until(lambda: liveavatar.fake.open_sessions() == [])
        rows, events = await records(server, client.conversation_id)
        assert all(r.cost_microusd == 0 for r in rows)
        kinds = [e.kind for e in events]
        assert "waiting" in kinds and "fallback" in kinds and "joined" not in kinds
        held = await reservation(server, client.conversation_id)
        assert held is not None and held.status == "released"
