"""Scale-out, end to end: two real ``visavis serve`` processes on one PostgreSQL and one Redis,
behind Debian's nginx running the shipped configuration (``deploy/nginx/visavis.conf``).

Quotas and rate limits hold across both instances through nginx; 40 conversations talk over
WebSockets through nginx; one instance is killed with SIGKILL mid-turn; its people reconnect
through nginx (same conversation, same token), land on the other instance and go on, with their
transcripts intact; the provider sessions of the people who left with the crash are stopped by
the surviving instance's sweeper within 60 s, and nobody else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET
from tests.conversation.live_client import LiveClient, start_conversation
from tests.db_support import PostgresTestDatabase, postgres_admin_url
from tests.fakes.liveavatar import DEFAULT_AVATARS, LiveAvatarServer, serve_liveavatar
from tests.fakes.loopback import free_port
from tests.nginx_process import NginxProcess
from tests.ops.test_deploy_files import nginx
from tests.server_process import ServerProcess
from visavis.cli import app as cli
from visavis.db.engine import create_engine

# Every test on the shared Redis runs in one test worker, one at a time.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.xdist_group("redis"),
    pytest.mark.usefixtures("live_clients_closed"),
]

REDIS_URL = os.environ.get("VISAVIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CONVERSATIONS = 40
#: Conversations with a LiveAvatar face (the fake on loopback), on top of the 40.
FACES = 4
QUOTA = 5
KEY_BURST = 200
#: The sweeper stops a provider session this long after its client was last heard from.
HEARTBEAT_TIMEOUT_S = 15
ANSWERS = [
    "I have been a backend engineer for five years, mostly Python and PostgreSQL.",
    "I rebuilt our order routing service as a queue-driven worker pool.",
    "I write tests first for the tricky parts and ask for reviews early.",
]


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test's own, for the server processes to share."""
    database = PostgresTestDatabase(postgres_admin_url())
    try:
        asyncio.run(database.create())
    except OSError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    yield database.url
    asyncio.run(database.drop())


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        message = f"Redis is unreachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the Redis tests must run)")
        pytest.skip(message)
    finally:
        await client.aclose()
    yield REDIS_URL


async def _cli(env: dict[str, str], *args: str) -> str:
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


async def _sql(database_url: str, sql: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def _homes(database_url: str, servers: list[ServerProcess]) -> dict[str, ServerProcess]:
    """Which instance holds each live conversation (instance ids carry the process id)."""
    by_pid = {str(s.proc.pid): s for s in servers if s.proc is not None}
    rows = await _sql(database_url, "SELECT conversation_id, instance_id FROM conversation_leases")
    homes = {str(cid): by_pid.get(instance.rsplit("-", 2)[1]) for cid, instance in rows}
    return {cid: server for cid, server in homes.items() if server is not None}


async def _keep_pinging(clients: list[LiveClient]) -> None:
    """What a browser does while a conversation is open: a ping every couple of seconds."""
    while True:
        await asyncio.sleep(2)
        for client in list(clients):
            if client.ws is not None and client.close_code is None:
                with contextlib.suppress(Exception):
                    await client.send({"type": "ping"})


async def _turn(client: LiveClient, answer: str) -> int:
    """Answer; the index in ``client.received`` from which the reply is read."""
    at = len(client.received)
    await client.send({"type": "user_text", "text": answer})
    return at


def _open_sessions(liveavatar: LiveAvatarServer) -> set[str]:
    return {s["session_id"] for s in liveavatar.fake.open_sessions()}


async def _check_quota_and_rate_limit(front: NginxProcess, limited: str, burst: str) -> None:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=front.base_url, timeout=60, limits=limits) as http:
        created = await asyncio.gather(
            *(
                http.post(
                    "/v1/conversations",
                    json={"avatar": {"provider": "local"}},
                    headers={"Authorization": f"Bearer {limited}"},
                )
                for _ in range(3 * QUOTA)
            )
        )
        assert {r.status_code for r in created} == {201}
        avatars = Counter(
            (r.json()["avatar"]["enabled"], r.json()["avatar"]["reason"]) for r in created
        )
        assert avatars == {(True, None): QUOTA, (False, "quota_exceeded"): 2 * QUOTA}
        assert len(set(front.upstreams_used("POST", "/v1/conversations"))) == 2

    # A browser-like pace, not a connection storm: each instance keeps a few Redis connections.
    async with httpx.AsyncClient(
        base_url=front.base_url, timeout=60, limits=httpx.Limits(max_connections=8)
    ) as http:
        answers = await asyncio.gather(
            *(
                http.get("/v1/tenant/usage", headers={"Authorization": f"Bearer {burst}"})
                for _ in range(KEY_BURST + KEY_BURST // 2)
            )
        )
        statuses = Counter(r.status_code for r in answers)
        assert statuses == {200: KEY_BURST, 429: KEY_BURST // 2}, statuses
        refused = next(r for r in answers if r.status_code == 429)
        assert refused.json()["code"] == "rate_limited"
        assert len(set(front.upstreams_used("GET", "/v1/tenant/usage"))) == 2


def _transcript_problems(items: list[dict[str, Any]], *, killed: bool) -> list[str]:
    """What is wrong with a transcript after the three answers (the second cut by the kill)."""
    problems = []
    users = [i["text"] for i in items if i["role"] == "user"]
    expected = [[ANSWERS[0], ANSWERS[1], ANSWERS[2]]]
    if killed:  # the answer in flight at the kill may not have reached the database
        expected.append([ANSWERS[0], ANSWERS[2]])
    if users not in expected:
        problems.append(f"user lines {users}")
    if not items or items[0]["role"] != "agent":
        problems.append("no greeting first")
    elif sum(1 for i in items if i["text"] == items[0]["text"]) != 1:
        problems.append("the greeting twice")
    last_user = max(n for n, i in enumerate(items) if i["role"] == "user")
    if not any(i["role"] == "agent" for i in items[last_user + 1 :]):
        problems.append("no reply after the last answer")
    return problems


async def test_two_instances_behind_nginx_survive_the_loss_of_one(
    shared_postgres: str, redis_url: str, tmp_path: Path
) -> None:
    nginx_binary = nginx()
    with serve_liveavatar() as liveavatar:
        env = {
            "VISAVIS_DATABASE_URL": shared_postgres,
            "VISAVIS_REDIS_URL": redis_url,
            "VISAVIS_REDIS_TIMEOUT_S": "2",  # a busy machine is not a Redis outage
            "VISAVIS_SECRET_KEY": TEST_SECRET,
            "VISAVIS_LIVEAVATAR_BASE_URL": liveavatar.base_url,
            "VISAVIS_LIVEAVATAR_API_KEY": "test-liveavatar-key",
            # LITE (the default): our audio drives the face over a socket that the instance
            # holding the conversation opens, whichever instance created the conversation.
            "VISAVIS_CLIENT_HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S),
            "VISAVIS_SWEEPER_INTERVAL_S": "2",
            "VISAVIS_RATE_LIMIT_TENANT_PER_S": "0",
            "VISAVIS_RATE_LIMIT_KEY_PER_S": "0.001",
            "VISAVIS_RATE_LIMIT_KEY_BURST": str(KEY_BURST),
            "VISAVIS_LOG_LEVEL": "warning",
        }
        key = await _cli(env, "tenants", "create", "acme")
        limited = await _cli(env, "tenants", "create", "limited")
        await _cli(env, "tenants", "prefs", "limited", "--monthly-avatar-session-limit", str(QUOTA))
        burst = await _cli(env, "tenants", "create", "burst")

        servers = []
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
            servers.append(ServerProcess(cwd=tmp_path / name, env=env))
        (tmp_path / "nginx").mkdir()
        front = NginxProcess(
            tmp_path / "nginx",
            nginx=nginx_binary,
            listen=free_port(),
            upstreams=[s.port for s in servers],
            log=True,
        )
        present: list[LiveClient] = []  # the browsers still open, pinging
        pinging = asyncio.create_task(_keep_pinging(present))
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda server: server.start(), servers))
            front.start()
            await _check_quota_and_rate_limit(front, limited, burst)
            await _scale_out(front, servers, key, liveavatar, shared_postgres, present)
        except BaseException:
            for server in servers:
                print(f"--- instance on port {server.port}:\n{server.log()[-3000:]}")
            raise
        finally:
            pinging.cancel()
            front.stop()
            for server in servers:
                server.stop()
        for server in servers:
            assert "Traceback" not in server.log(), server.log()


async def _scale_out(
    front: NginxProcess,
    servers: list[ServerProcess],
    key: str,
    liveavatar: LiveAvatarServer,
    database_url: str,
    present: list[LiveClient],
) -> None:
    base = front.base_url
    local = {"avatar": {"provider": "local"}}
    face = {"avatar": {"provider": "liveavatar", "avatar_id": DEFAULT_AVATARS[0][0]}}
    started = await asyncio.gather(
        *(start_conversation(base, key, local) for _ in range(CONVERSATIONS)),
        *(start_conversation(base, key, face) for _ in range(FACES)),
    )
    talkers = [LiveClient(base, cid, token) for cid, token in started[:CONVERSATIONS]]
    faces = [
        LiveClient(base, cid, token, playback="none") for cid, token in started[CONVERSATIONS:]
    ]
    everyone = talkers + faces
    await asyncio.gather(*(c.connect() for c in everyone))
    present.extend(everyone)
    await asyncio.gather(*(c.wait_for("turn_end", turn_id=1, timeout=60) for c in talkers))
    await asyncio.gather(*(c.wait_for("sentence", timeout=60) for c in faces))
    assert len(_open_sessions(liveavatar)) == FACES

    for answer in ANSWERS[:1]:
        marks = [await _turn(c, answer) for c in talkers]
        await asyncio.gather(
            *(
                c.wait_for("turn_end", reason="completed", after=at, timeout=60)
                for c, at in zip(talkers, marks, strict=True)
            )
        )

    # The instance holding most of the faces dies; both hold some of the 40.
    homes = await _homes(database_url, servers)
    assert {homes[c.conversation_id] for c in talkers} == set(servers)
    face_homes = Counter(homes[c.conversation_id] for c in faces)
    victim = face_homes.most_common(1)[0][0]
    survivor = next(s for s in servers if s is not victim)
    moved = [c for c in talkers if homes[c.conversation_id] is victim]
    stayed = [c for c in talkers if homes[c.conversation_id] is survivor]
    gone_faces = [c for c in faces if homes[c.conversation_id] is victim]
    rows = await _sql(
        database_url,
        "SELECT conversation_id, provider_session_id FROM avatar_sessions "
        "WHERE provider = 'liveavatar'",
    )
    session_of = {str(cid): sid for cid, sid in rows}
    for c in faces:
        assert not [m for m in c.messages("avatar") if not m["enabled"]], "a face fell back"
        with liveavatar.fake.lock:
            spoken = liveavatar.fake.sessions[session_of[c.conversation_id]].utterances
        assert spoken, "no audio of ours reached the face"
    orphans = {session_of[c.conversation_id] for c in gone_faces}
    kept_faces = {session_of[c.conversation_id] for c in faces if c not in gone_faces}

    # Mid-turn: every conversation has an answer in flight, and the victim is replying to one.
    marks = [await _turn(c, ANSWERS[1]) for c in talkers]
    replying = [
        asyncio.create_task(c.wait_for("agent_delta", after=at, timeout=60))
        for c, at in zip(talkers, marks, strict=True)
        if c in moved
    ]
    await asyncio.wait(replying, return_when=asyncio.FIRST_COMPLETED)
    for task in replying:
        task.cancel()
    await asyncio.gather(*replying, return_exceptions=True)
    victim.kill()
    killed_at = time.monotonic()
    for client in gone_faces:  # these people leave with the crash
        await client.close()

    # The survivor's conversations never noticed.
    await asyncio.gather(
        *(
            c.wait_for("turn_end", reason="completed", after=at, timeout=60)
            for c, at in zip(talkers, marks, strict=True)
            if c in stayed
        )
    )
    assert all(c.close_code is None for c in stayed)

    # The victim's people see their socket drop, reconnect through nginx and are resumed.
    codes = await asyncio.gather(*(c.wait_closed(timeout=30) for c in moved))
    assert all(code is not None and code != 1000 for code in codes), codes
    back = [LiveClient(base, c.conversation_id, c.token) for c in moved]
    await asyncio.gather(*(c.connect() for c in back))
    present[:] = stayed + back + [c for c in faces if c not in gone_faces]
    readies = await asyncio.gather(*(c.wait_for("ready", timeout=30) for c in back))
    assert all(r["resumed"] for r in readies)
    back_after_s = time.monotonic() - killed_at
    homes = await _homes(database_url, [survivor])
    assert all(homes[c.conversation_id] is survivor for c in back)

    # Everyone answers once more and is answered.
    going_on = stayed + back
    for client in back:  # let a resumed conversation settle before it is spoken to
        await client.wait_for("state", state="listening", timeout=60)
    marks = [await _turn(c, ANSWERS[2]) for c in going_on]
    await asyncio.gather(
        *(
            c.wait_for("turn_end", reason="completed", after=at, timeout=60)
            for c, at in zip(going_on, marks, strict=True)
        )
    )

    # Transcripts through nginx: nothing lost, nothing twice.
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        headers = {"Authorization": f"Bearer {key}"}
        for client in going_on:
            lines = await http.get(
                f"/v1/conversations/{client.conversation_id}/transcript", headers=headers
            )
            assert lines.status_code == 200, lines.text
            problems = _transcript_problems(lines.json()["items"], killed=client in back)
            assert not problems, (client.conversation_id, problems, lines.json()["items"])

    # The faces of the people who left are stopped by the survivor's sweeper, once each.
    while orphans & _open_sessions(liveavatar):
        assert time.monotonic() - killed_at < 60, "provider sessions still open 60 s after"
        await asyncio.sleep(0.2)
    swept_after_s = time.monotonic() - killed_at
    assert kept_faces <= _open_sessions(liveavatar), "a live face was stopped"
    stops = liveavatar.fake.requests("/v1/sessions/stop")
    assert len(stops) == len(orphans), stops
    print(
        f"{len(moved)} conversations back {back_after_s:.1f} s after the kill; "
        f"{len(orphans)} provider sessions stopped {swept_after_s:.1f} s after"
    )
