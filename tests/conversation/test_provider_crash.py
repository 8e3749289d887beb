"""Every provider's session outlives a crash of the server only until the sweeper stops it.

A server killed with SIGKILL mid-conversation leaves its provider session open (LiveAvatar in
either mode, Akool and Tavus keep theirs; Simli's ends with its socket); once a server is back,
the session is stopped at the provider, exactly once, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conversation.live_client import LiveClient, start_conversation
from tests.fakes.akool import serve_akool
from tests.fakes.liveavatar import DEFAULT_AVATARS, serve_liveavatar
from tests.fakes.simli import DEFAULT_FACES, serve_simli
from tests.fakes.tavus import DEFAULT_FACES as TAVUS_FACES
from tests.fakes.tavus import serve_tavus
from tests.server_process import ServerProcess
from visavis.cli import app as cli

pytestmark = pytest.mark.usefixtures("live_clients_closed")

#: provider → (how its fake is served, its settings by base URL, the avatar, the stop call)
PROVIDERS: dict[str, tuple[Any, dict[str, str], str, str | None]] = {
    "liveavatar-full": (
        serve_liveavatar,
        {
            "LIVEAVATAR_API_KEY": "test-liveavatar-key",
            "LIVEAVATAR_MODE": "FULL",
            "LIVEAVATAR_CONTEXT_ID": "ctx-interviewer",
        },
        DEFAULT_AVATARS[0][0],
        "/v1/sessions/stop",
    ),
    "akool": (serve_akool, {"AKOOL_API_KEY": "test-akool-key"}, "Wayne_1", None),
    "tavus": (
        serve_tavus,
        {"TAVUS_API_KEY": "test-tavus-key", "TAVUS_PAL_ID": "p-echo-fake"},
        TAVUS_FACES[0][0],
        None,
    ),
    "simli": (serve_simli, {"SIMLI_API_KEY": "test-simli-key"}, DEFAULT_FACES[0], None),
}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    with ExitStack() as stack:
        yield request.param, stack.enter_context(PROVIDERS[request.param][0]())


@pytest.mark.slow
async def test_a_crashed_servers_provider_session_is_stopped_once_it_is_back(
    database_url: str, tmp_path: Path, provider: tuple[str, Any]
) -> None:
    name, fake = provider
    _, keys, avatar_id, stop_path = PROVIDERS[name]
    prefix = name.split("-")[0].upper()
    env = {
        "VISAVIS_DATABASE_URL": database_url,
        f"VISAVIS_{prefix}_BASE_URL": fake.base_url,
        **{f"VISAVIS_{key}": value for key, value in keys.items()},
        "VISAVIS_CLIENT_HEARTBEAT_TIMEOUT_S": "6",
        "VISAVIS_SWEEPER_INTERVAL_S": "2",
    }
    created = await asyncio.to_thread(
        CliRunner().invoke, cli, ["tenants", "create", f"crash-{name}"], env=env
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    server = ServerProcess(cwd=tmp_path, env=env).start()
    body = {"avatar": {"provider": name.split("-")[0], "avatar_id": avatar_id}}
    conversation_id, token = await start_conversation(server.base_url, key, body)
    client = LiveClient(server.base_url, conversation_id, token, playback="none")
    await client.connect()
    await client.wait_for("sentence", timeout=30)
    assert len(fake.fake.open_sessions()) == 1
    server.kill()
    await client.close()
    killed_at = time.monotonic()
    restarted = ServerProcess(cwd=tmp_path, env=env, port=server.port).start()
    try:
        while fake.fake.open_sessions():
            assert time.monotonic() - killed_at < 60, "the orphan is still open after 60 s"
            await asyncio.sleep(0.2)
    finally:
        restarted.stop()
    if stop_path is not None:
        assert len(fake.fake.requests(stop_path)) == 1, "stopped exactly once"
