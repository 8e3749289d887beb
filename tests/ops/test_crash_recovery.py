"""A server killed with SIGKILL leaves provider sessions open; after a restart all are stopped."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conversation.live_client import LiveClient, start_conversation
from tests.fakes.liveavatar import serve_liveavatar
from tests.server_process import ServerProcess
from visavis.cli import app as cli

pytestmark = pytest.mark.usefixtures("live_clients_closed")

AVATAR = "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01"


@pytest.mark.slow
async def test_provider_sessions_are_stopped_after_a_crash(
    database_url: str, tmp_path: Path
) -> None:
    with serve_liveavatar() as liveavatar:
        env = {
            "VISAVIS_DATABASE_URL": database_url,
            "VISAVIS_LIVEAVATAR_BASE_URL": liveavatar.base_url,
            "VISAVIS_LIVEAVATAR_API_KEY": "test-liveavatar-key",
            # Shorter than the defaults (30 s, 10 s) to keep the test quick; the bound is the
            # same: heartbeat timeout + one sweep interval.
            "VISAVIS_CLIENT_HEARTBEAT_TIMEOUT_S": "6",
            "VISAVIS_SWEEPER_INTERVAL_S": "2",
        }
        created = await asyncio.to_thread(
            CliRunner().invoke, cli, ["tenants", "create", "crash"], env=env
        )
        assert created.exit_code == 0, created.output
        key = created.stdout.strip()
        server = ServerProcess(cwd=tmp_path, env=env).start()
        clients = []
        for _ in range(3):
            conversation_id, token = await start_conversation(
                server.base_url, key, {"avatar": {"provider": "liveavatar", "avatar_id": AVATAR}}
            )
            client = LiveClient(server.base_url, conversation_id, token, playback="none")
            await client.connect()
            await client.wait_for("sentence")
            clients.append(client)
        assert len(liveavatar.fake.open_sessions()) == 3
        server.kill()
        for client in clients:
            await client.close()
        killed_at = time.monotonic()

        restarted = ServerProcess(cwd=tmp_path, env=env, port=server.port).start()
        try:
            while liveavatar.fake.open_sessions():
                assert time.monotonic() - killed_at < 60, "orphans still open after 60 s"
                await asyncio.sleep(0.2)
            elapsed = time.monotonic() - killed_at
            async with httpx.AsyncClient(base_url=restarted.base_url) as http:
                assert (await http.get("/readyz")).status_code == 200
        finally:
            restarted.stop()
        stops = liveavatar.fake.requests("/v1/sessions/stop")
        assert len(stops) == 3, "each orphan stopped once"
        print(f"all provider sessions stopped {elapsed:.1f} s after the crash")
