"""The orphan sweeper: it stops what nobody uses, exactly once, and leaves live sessions alone."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.conversation.live_client import start_conversation
from tests.fakes.liveavatar import serve_liveavatar
from tests.live_server import RunningServer, ServerFactory
from visavis.avatars.liveavatar.api import LiveAvatarAPI
from visavis.avatars.store import AvatarStore
from visavis.components import build_avatars, build_tts
from visavis.config import Settings
from visavis.db.base import utcnow
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.models import AvatarSession, AvatarSessionEvent, Conversation, UsageMonth
from visavis.ops.sweeper import Sweeper
from visavis.tenancy.crypto import SecretBox

KEY = "test-liveavatar-key"
AVATAR = "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01"


@pytest.fixture
def liveavatar() -> Iterator[Any]:
    with serve_liveavatar() as fake:
        yield fake


@pytest.fixture
async def server(live_server: ServerFactory, liveavatar: Any) -> RunningServer:
    return live_server(
        liveavatar_base_url=liveavatar.base_url, liveavatar_api_key=KEY, sweeper_interval_s=3600
    )


class Instance:
    """What one more Visavis instance brings to sweeping: its own engine, providers, sweeper."""

    def __init__(self, settings: Settings, *, client_timeout_s: float, grace_s: float) -> None:
        self.engine = create_engine(settings.database_url)
        self.sessions = create_session_factory(self.engine)
        self.providers = build_avatars(settings, build_tts(settings))
        box = SecretBox.from_config(encryption_keys=None, secret_key="x" * 40)
        self.sweeper = Sweeper(
            sessions=self.sessions,
            store=AvatarStore(self.sessions, self.providers, box),
            providers=self.providers,
            client_timeout_s=client_timeout_s,
            unknown_grace_s=grace_s,
        )

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.engine.dispose()


@pytest.fixture
async def instances(server: RunningServer) -> AsyncIterator[list[Instance]]:
    made = [Instance(server.ctx.settings, client_timeout_s=0.5, grace_s=0.0) for _ in range(2)]
    yield made
    for instance in made:
        await instance.aclose()


async def liveavatar_conversations(server: RunningServer, count: int) -> list[str]:
    tenant = await server.tenant(f"t-{uuid.uuid4().hex[:6]}")
    ids = []
    for _ in range(count):
        conversation_id, _ = await start_conversation(
            server.base_url, tenant.key, {"avatar": {"provider": "liveavatar", "avatar_id": AVATAR}}
        )
        ids.append(conversation_id)
    return ids


async def until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_orphans_are_stopped_with_their_reason_and_cost(
    server: RunningServer, liveavatar: Any, instances: list[Instance]
) -> None:
    gone, ended = await liveavatar_conversations(server, 2)
    await until(lambda: len(liveavatar.fake.open_sessions()) == 2)
    sweeper = instances[0].sweeper
    async with instances[0].sessions() as db:
        # A crash between "conversation ended" and "provider session stopped".
        await db.execute(
            update(Conversation).where(Conversation.id == uuid.UUID(ended)).values(status="ended")
        )
        await db.commit()
    patient = Sweeper(
        sessions=instances[0].sessions,
        store=sweeper.store,
        providers=instances[0].providers,
        client_timeout_s=600,
    )
    preview = await patient.sweep(dry_run=True)
    deadline = time.monotonic() + 15
    while not preview.would_stop and time.monotonic() < deadline:
        # On PostgreSQL a row the server is still writing (its session starting) is skipped
        # (SKIP LOCKED), as another sweeper's would be: the next pass sees it.
        await asyncio.sleep(0.1)
        preview = await patient.sweep(dry_run=True)
    assert {e["conversation"] for e in preview.would_stop} == {ended}
    assert len(liveavatar.fake.open_sessions()) == 2, "a dry run stops nothing"

    await asyncio.sleep(0.6)  # the other conversation's client is now gone too
    report = await sweeper.sweep()
    reasons = {e["conversation"]: e["reason"] for e in report.stopped}
    assert reasons == {gone: "client_gone", ended: "conversation_ended"}
    assert liveavatar.fake.open_sessions() == []
    async with instances[0].sessions() as db:
        rows = (await db.execute(select(AvatarSession))).scalars().all()
        assert {r.status for r in rows} == {"stopped"}
        assert all(r.cost_microusd > 0 for r in rows)
        usage = (await db.execute(select(UsageMonth))).scalars().all()
        assert sum(u.cost_microusd for u in usage) == sum(r.cost_microusd for r in rows)
    again = await sweeper.sweep()
    assert again.stopped == [] and again.reconciled == []


async def test_sessions_only_the_provider_knows_are_reconciled(
    server: RunningServer, liveavatar: Any, instances: list[Instance]
) -> None:
    (live,) = await liveavatar_conversations(server, 1)
    await until(lambda: len(liveavatar.fake.open_sessions()) == 1)
    async with instances[0].sessions() as db:
        await db.execute(
            update(Conversation)
            .where(Conversation.id == uuid.UUID(live))
            .values(last_client_seen_at=utcnow())
        )
        await db.commit()
    api = LiveAvatarAPI(api_key=KEY, base_url=liveavatar.base_url)
    try:
        stray = await api.create_token({"mode": "LITE", "avatar_id": AVATAR})
        await api.start(stray)
    finally:
        await api.aclose()
    sweeper = Sweeper(
        sessions=instances[0].sessions,
        store=instances[0].sweeper.store,
        providers=instances[0].providers,
        client_timeout_s=60,
        unknown_grace_s=0.0,
    )
    # Not told it is alone on the key: another deployment's session is left alone.
    report = await sweeper.sweep()
    assert report.reconciled == []
    assert [e["provider_session"] for e in report.unclaimed] == [stray.session_id]
    assert len(liveavatar.fake.open_sessions()) == 2
    sweeper.stop_unknown = True
    report = await sweeper.sweep()
    assert [e["provider_session"] for e in report.reconciled] == [stray.session_id]
    assert report.reconciled[0]["reason"] == "orphaned_at_provider"
    open_ids = [s["session_id"] for s in liveavatar.fake.open_sessions()]
    assert len(open_ids) == 1 and open_ids != [stray.session_id], "the live one stays"


async def test_two_instances_sweeping_stop_each_orphan_exactly_once(
    server: RunningServer, liveavatar: Any, instances: list[Instance]
) -> None:
    await liveavatar_conversations(server, 6)
    await until(lambda: len(liveavatar.fake.open_sessions()) == 6)
    await asyncio.sleep(0.6)
    first, second = await asyncio.gather(*(i.sweeper.sweep() for i in instances))
    assert len(first.stopped) + len(second.stopped) == 6
    assert liveavatar.fake.open_sessions() == []
    stops = Counter(r["json"]["session_id"] for r in liveavatar.fake.requests("/v1/sessions/stop"))
    assert sorted(stops.values()) == [1] * 6
    async with instances[0].sessions() as db:
        events = (
            (
                await db.execute(
                    select(AvatarSessionEvent).where(AvatarSessionEvent.kind == "stopped")
                )
            )
            .scalars()
            .all()
        )
        assert sorted(Counter(e.avatar_session_id for e in events).values()) == [1] * 6


async def _visavis(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VISAVIS_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "visavis",
        *args,
        env=base | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_sweep_command(server: RunningServer, liveavatar: Any) -> None:
    await liveavatar_conversations(server, 1)
    await until(lambda: len(liveavatar.fake.open_sessions()) == 1)
    settings = server.ctx.settings
    env = {
        "VISAVIS_DATABASE_URL": settings.database_url,
        "VISAVIS_LIVEAVATAR_BASE_URL": liveavatar.base_url,
        "VISAVIS_LIVEAVATAR_API_KEY": KEY,
        "VISAVIS_CLIENT_HEARTBEAT_TIMEOUT_S": "0.1",
        "VISAVIS_SECRET_KEY": settings.secret_key.get_secret_value(),
    }
    await asyncio.sleep(0.3)
    code, out, err = await _visavis("sweep", "--dry-run", "--json", env=env)
    assert code == 0, err
    assert json.loads(out)["would_stop"][0]["reason"] == "client_gone"
    assert len(liveavatar.fake.open_sessions()) == 1
    code, out, err = await _visavis("sweep", env=env)
    assert code == 0, err
    assert "stopped 1 provider session" in out
    assert liveavatar.fake.open_sessions() == []
