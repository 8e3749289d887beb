"""Presence: a connected client is seen often enough that the sweeper never takes it for gone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from visavis.db.models import Conversation
from visavis.testing import ConversationKit, ScriptedAgent

TIMEOUT_S = 3.0  # the sweeper's client timeout; the server's usual write interval is 10 s


async def test_a_short_client_timeout_is_still_met_by_the_heartbeats() -> None:
    agent = ScriptedAgent(["Hello there."], greets_first=True)
    settings = {"client_heartbeat_timeout_s": TIMEOUT_S}
    async with ConversationKit(agent=agent, settings=settings) as client:
        await client.wait_for("turn_end", turn_id=1)
        session = client.session
        assert session is not None
        oldest_age_s = 0.0
        for _ in range(32):  # 8 s of a client that pings every 250 ms
            await client.send({"type": "ping"})
            await asyncio.sleep(0.25)
            async with session.services.sessions() as db:
                seen = await db.scalar(
                    select(Conversation.last_client_seen_at).where(
                        Conversation.id == client.conversation_id
                    )
                )
            assert seen is not None
            if seen.tzinfo is None:
                seen = seen.replace(tzinfo=UTC)
            oldest_age_s = max(oldest_age_s, (datetime.now(UTC) - seen).total_seconds())
    # Written every third of the timeout, so never as old as the timeout itself.
    assert oldest_age_s < TIMEOUT_S, f"the client looked gone for {oldest_age_s:.1f} s"
