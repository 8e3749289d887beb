"""Two real server processes on one database: a live conversation has one owner at a time.

`end` on one instance closes the conversation's socket on the other; a client connecting
through another instance takes the conversation over (the old connection gets 4409); connections
racing to open a new conversation start exactly one greeting and lose no turn record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conversation.live_client import LiveClient, start_conversation
from tests.server_process import ServerProcess
from visavis.cli import app as cli

#: An instance checks the conversations it holds every second (VISAVIS_LEASE_CHECK_S).
NOTICE_S = 2.0

pytestmark = pytest.mark.slow


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
