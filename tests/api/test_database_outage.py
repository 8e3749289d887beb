"""While the database is unreachable REST answers 503 with Retry-After, never 500, and a
WebSocket ``hello`` gets an ``error`` and close 1013 instead of being dropped without a word.

The outage is a PostgreSQL URL on a port where nothing listens, or an SQLite "file" that is
a directory (it cannot be opened): nothing shared is stopped.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.api.test_errors_and_auth import assert_problem
from tests.conftest import TEST_SECRET
from tests.fakes.loopback import LoopbackServer, free_port
from visavis.app import create_app
from visavis.cli.serve import uvicorn_options
from visavis.config import Settings
from visavis.tenancy import client_tokens
from visavis.tenancy.keys import generate_key


def _unreachable_urls(tmp: Path) -> dict[str, str]:
    directory = tmp / "visavis.db"
    directory.mkdir()
    return {
        "postgres": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/visavis",
        "sqlite": f"sqlite+aiosqlite:///{directory}",
    }


@pytest.fixture(params=["postgres", "sqlite"])
def outage_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=_unreachable_urls(tmp_path)[request.param],
        env="production",
        secret_key=TEST_SECRET,
        sweeper_interval_s=3600,
    )


@pytest.fixture
async def outage_client(outage_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(outage_settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://visavis.test") as http:
            yield http


async def test_rest_answers_503_with_retry_after_while_the_database_is_away(
    outage_client: httpx.AsyncClient,
) -> None:
    key = {"Authorization": f"Bearer {generate_key().plaintext}"}
    for method, path, body in (
        ("GET", "/v1/conversations", None),
        ("POST", "/v1/conversations", {"user_ref": "u"}),
        ("GET", "/v1/tenant/usage", None),
    ):
        response = await outage_client.request(method, path, json=body, headers=key)
        problem = assert_problem(response, 503)
        assert problem["code"] == "database_unavailable"
        assert int(response.headers["retry-after"]) >= 1
        assert "retry" in str(problem["detail"])
    ready = await outage_client.get("/readyz")
    assert ready.status_code == 503


async def test_a_hello_while_the_database_is_away_gets_an_error_and_close_1013(
    outage_settings: Settings,
) -> None:
    application = create_app(outage_settings)
    server = LoopbackServer(application, options=uvicorn_options(outage_settings)).start()
    try:
        conversation_id = uuid.uuid4()
        token, _ = client_tokens.mint(
            secret=TEST_SECRET,
            conversation_id=conversation_id,
            tenant_id=uuid.uuid4(),
            key_id=uuid.uuid4(),
            ttl_s=300,
        )
        url = (
            server.base_url.replace("http://", "ws://") + f"/v1/conversations/{conversation_id}/ws"
        )
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "hello", "token": token, "protocol": 1}))
            said = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert said["type"] == "error" and said["code"] == "storage_unavailable", said
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    finally:
        server.stop()
