"""Two real server processes on one database: a live conversation has one owner at a time.

`end` on one instance closes the conversation's socket on the other; a client connecting
through another instance takes the conversation over (the old connection gets 4409); connections
racing to open a new conversation start exactly one greeting and lose no turn record. With
Redis, the holder hears of the change through a pub/sub notice; with Redis configured but
unreachable or hung, through its lease poll as without it.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from tests.conversation.live_client import LiveClient, start_conversation
from tests.db_support import PostgresTestDatabase
from tests.fakes.loopback import free_port
from tests.fakes.silent_server import SilentServer
from tests.server_process import ServerProcess
from visavis.cli import app as cli

#: An instance checks the conversations it holds every second (VISAVIS_LEASE_CHECK_S).
NOTICE_S = 2.0

# Every test on the shared Redis runs in one test worker, one at a time.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("redis"),
    pytest.mark.usefixtures("live_clients_closed"),
]


@pytest.fixture
def instances(database_url: str, tmp_path: Path) -> Iterator[tuple[list[ServerProcess], str]]:
    env = {"VISAVIS_DATABASE_URL": database_url, "VISAVIS_SWEEPER_INTERVAL_S": "3600"}
    created = CliRunner().invoke(cli, ["tenants", "create", "acme"], env=env)
    assert created.exit_code == 0, created.output
    servers: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            servers.append(ServerProcess(cwd=tmp_path / name, env=env).start())
        yield servers, created.stdout.strip()
    finally:
        for server in servers:
            server.stop()
        for server in servers:
            assert "Traceback" not in server.log(), server.log()


REDIS_URL = os.environ.get("VISAVIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN_KEY = "admin-" + "k" * 40
#: Long lease rounds, so a change reaching the holder quickly can only be a notice's doing.
SLOW_POLL_S = "10"


async def _two_instances(
    database_url: str, tmp_path: Path, extra: dict[str, str]
) -> tuple[list[ServerProcess], str]:
    env = {
        "VISAVIS_DATABASE_URL": database_url,
        "VISAVIS_SWEEPER_INTERVAL_S": "3600",
        "VISAVIS_ADMIN_API_KEY": ADMIN_KEY,
    } | extra
    created = await asyncio.to_thread(
        CliRunner().invoke, cli, ["tenants", "create", "acme"], env=env
    )
    assert created.exit_code == 0, created.output
    servers: list[ServerProcess] = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        servers.append(await asyncio.to_thread(ServerProcess(cwd=tmp_path / name, env=env).start))
    return servers, created.stdout.strip()


async def _heard(server: ServerProcess, kind: str, path: str) -> float:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        scrape = await http.get("/metrics")
    assert scrape.status_code == 200, scrape.text
    wanted = f'visavis_owner_changes_heard_total{{kind="{kind}",path="{path}"}} '
    for line in scrape.text.splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


async def _end_through_b_closes_a(servers: list[ServerProcess], key: str) -> None:
    a, b = servers
    conversation_id, token = await start_conversation(a.base_url, key, None)
    client = LiveClient(a.base_url, conversation_id, token)
    await client.connect()
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=b.base_url, headers=headers) as http:
        ended = await http.post(f"/v1/conversations/{conversation_id}/end")
        assert ended.status_code == 200, ended.text
        end = await client.wait_for("end", timeout=30)
        assert end["reason"] == "ended_by_api"
        assert await client.wait_closed(timeout=10) == 1000


@pytest.mark.postgres
async def test_with_redis_the_holder_hears_end_and_takeover_by_notice(
    postgres_database: PostgresTestDatabase, tmp_path: Path
) -> None:
    await postgres_database.empty()
    channel = f"visavis-test:{uuid.uuid4().hex}"
    extra = {
        "VISAVIS_REDIS_URL": REDIS_URL,
        "VISAVIS_REDIS_NOTICE_CHANNEL": channel,
        "VISAVIS_LEASE_CHECK_S": SLOW_POLL_S,
        # A notice not published within the Redis deadline is left to the poll (by design):
        # on a loaded test machine 0.25 s is not always enough, and this test is about notices.
        "VISAVIS_REDIS_TIMEOUT_S": "2",
    }
    servers, key = await _two_instances(postgres_database.url, tmp_path, extra)
    a, b = servers
    try:
        await _wait_subscribed(channel, count=2)
        await _end_through_b_closes_a(servers, key)
        assert await _heard(a, "end", "pubsub") == 1, a.log()
        assert await _heard(a, "end", "poll") == 0, a.log()

        conversation_id, token = await start_conversation(a.base_url, key, None)
        first = LiveClient(a.base_url, conversation_id, token)
        await first.connect()
        await first.wait_for("turn_end", turn_id=1, timeout=60)
        second = LiveClient(b.base_url, conversation_id, token)
        await second.connect()
        await second.wait_for("ready", timeout=10)
        assert await first.wait_closed(timeout=10) == 4409
        assert await _heard(a, "takeover", "pubsub") == 1, a.log()
        await second.close()
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert "Traceback" not in server.log(), server.log()


async def _wait_subscribed(channel: str, *, count: int) -> None:
    """Until ``count`` instances listen on ``channel`` (they subscribe as they start)."""
    redis = Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        deadline = time.monotonic() + 20
        while True:
            numbers = dict(await redis.pubsub_numsub(channel))
            if numbers.get(channel.encode(), 0) >= count:
                return
            assert time.monotonic() < deadline, f"instances not subscribed to {channel}"
            await asyncio.sleep(0.1)
    finally:
        await redis.aclose()


@pytest.mark.postgres
@pytest.mark.parametrize("redis", ["unreachable", "hung"])
async def test_with_redis_down_the_holder_hears_end_by_its_poll(
    postgres_database: PostgresTestDatabase, tmp_path: Path, redis: str
) -> None:
    await postgres_database.empty()
    with SilentServer() as silent:
        url = silent.url if redis == "hung" else f"redis://127.0.0.1:{free_port()}/0"
        servers, key = await _two_instances(
            postgres_database.url, tmp_path, {"VISAVIS_REDIS_URL": url}
        )
        try:
            await _end_through_b_closes_a(servers, key)
            assert await _heard(servers[0], "end", "poll") == 1
            assert await _heard(servers[0], "end", "pubsub") == 0
        finally:
            for server in servers:
                server.stop()
    for server in servers:
        assert "Traceback" not in server.log(), server.log()


async def test_end_on_one_instance_closes_the_socket_on_the_other(
    instances: tuple[list[ServerProcess], str],
) -> None:
    (a, b), key = instances
    conversation_id, token = await start_conversation(a.base_url, key, None)
    client = LiveClient(a.base_url, conversation_id, token)
    await client.connect()
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=b.base_url, headers=headers) as http:
        asked = time.monotonic()
        ended = await http.post(f"/v1/conversations/{conversation_id}/end")
        assert ended.status_code == 200, ended.text
        end = await client.wait_for("end", timeout=10)
        assert time.monotonic() - asked < NOTICE_S + 0.5
        assert end["reason"] == "ended_by_api"
        assert await client.wait_closed(timeout=10) == 1000
        lines = (await http.get(f"/v1/conversations/{conversation_id}/transcript")).json()
        assert [i["role"] for i in lines["items"]] == ["agent"]


async def test_a_client_moving_to_another_instance_takes_the_conversation_over(
    instances: tuple[list[ServerProcess], str],
) -> None:
    (a, b), key = instances
    conversation_id, token = await start_conversation(a.base_url, key, None)
    first = LiveClient(a.base_url, conversation_id, token)
    await first.connect()
    await first.wait_for("turn_end", turn_id=1, timeout=60)
    second = LiveClient(b.base_url, conversation_id, token)
    joined = time.monotonic()
    await second.connect()
    ready = await second.wait_for("ready", timeout=10)
    assert ready["resumed"] is True
    assert await first.wait_closed(timeout=10) == 4409
    assert time.monotonic() - joined < NOTICE_S + 1.0
    await second.send({"type": "user_text", "text": "I build payment systems in Go."})
    await second.wait_for("turn_end", turn_id=2, timeout=60)
    await second.close()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=a.base_url, headers=headers) as http:
        turns = (await http.get(f"/v1/conversations/{conversation_id}/turns")).json()["items"]
    assert [t["turn_id"] for t in turns] == [1, 2]


async def test_racing_connections_start_one_greeting(
    instances: tuple[list[ServerProcess], str],
) -> None:
    (a, b), key = instances
    conversation_id, token = await start_conversation(a.base_url, key, None)
    clients = [
        LiveClient((a, b)[i % 2].base_url, conversation_id, token, playback="instant")
        for i in range(10)
    ]
    await asyncio.gather(*(client.connect() for client in clients))
    deadline = time.monotonic() + 30
    while sum(1 for c in clients if c.close_code is None) > 1:
        assert time.monotonic() < deadline, [c.close_code for c in clients]
        await asyncio.sleep(0.1)
    (survivor,) = [c for c in clients if c.close_code is None]
    assert {c.close_code for c in clients if c is not survivor} == {4409}
    await asyncio.sleep(3)  # a greeting, if one was started, gets going
    await survivor.send({"type": "user_text", "text": "Hello, anyone there?"})
    await survivor.wait_for("turn_end", reason="completed", timeout=60, after=0)
    await survivor.close()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=a.base_url, headers=headers) as http:
        turns = (await http.get(f"/v1/conversations/{conversation_id}/turns")).json()["items"]
    triggers = [t["trigger"] for t in turns]
    assert triggers.count("greeting") <= 1, triggers
    assert triggers.count("user") == 1, triggers
    seqs = [t["turn_id"] for t in turns]
    assert len(seqs) == len(set(seqs)), f"duplicate turn ids: {seqs}"
