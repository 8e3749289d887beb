"""A full REST conversation lifecycle leaves no key, token or secret in any log line.

Logs are captured at DEBUG from every logger (SQL statements and their parameters included),
in process and from a real server's output (uvicorn's access log included).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET, TenantFactory
from tests.conversation.live_client import LiveClient, start_conversation, store_plan
from tests.fakes.liveavatar import serve_liveavatar
from tests.live_server import ServerFactory
from tests.server_process import ServerProcess
from visavis.cli import app as cli
from visavis.config import Settings
from visavis.tenancy.crypto import generate_key

ADMIN_KEY = "admin-key-for-log-scan-0123456789abcdefghijklmn"
LIVEAVATAR_KEY = "la-secret-liveavatar-key-0123456789"
OPENAI_KEY = "sk-secret-openai-key-0123456789"
ENCRYPTION_KEYS = f"{generate_key()},{generate_key()}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        admin_api_key=ADMIN_KEY,
        liveavatar_api_key=LIVEAVATAR_KEY,
        openai_api_key=OPENAI_KEY,
        encryption_keys=ENCRYPTION_KEYS,
        rate_limit_key_per_s=5,
        rate_limit_key_burst=30,
    )


async def rest_lifecycle(http: httpx.AsyncClient, key: str, other_key: str) -> list[str]:
    """Every REST step of a conversation's life; returns the secrets it handled."""
    me = {"Authorization": f"Bearer {key}"}
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    await http.put(
        "/v1/tenant/preferences",
        json={"monthly_avatar_session_limit": 2, "default_avatar_id": "Wayne_20240711"},
        headers=me,
    )
    created = await http.post(
        "/v1/conversations",
        json={"user_ref": "candidate-1", "avatar": {"provider": "local"}},
        headers=me,
    )
    conversation = created.json()["id"]
    await http.post("/v1/conversations", json={"avatar": {"provider": "heygen"}}, headers=me)
    await http.post("/v1/conversations", json={"avatar": True}, headers=me)  # over the limit
    token = (await http.post(f"/v1/conversations/{conversation}/client-token", headers=me)).json()[
        "token"
    ]
    await http.get(f"/v1/conversations/{conversation}", headers=me)
    await http.get("/v1/conversations?limit=5", headers=me)
    await http.get(f"/v1/conversations/{conversation}/transcript", headers=me)
    await http.get("/v1/tenant/usage", headers=me)
    await http.get("/v1/flags", headers=me)
    await http.patch("/v1/admin/flags/avatar", json={"rollout_percent": 100}, headers=admin)
    await http.get("/v1/admin/tenants", headers=admin)
    # Mistakes that get logged by careless servers: wrong keys, a leaked token in a URL.
    await http.get("/v1/conversations", headers={"Authorization": f"Bearer {key}x"})
    await http.get("/v1/admin/tenants", headers={"Authorization": f"Bearer {key}"})
    await http.get(f"/v1/conversations/{conversation}", headers={"Authorization": other_key})
    await http.get(f"/v1/conversations?cursor={token}", headers=me)
    await http.post(f"/v1/conversations/{conversation}/end", headers=me)
    return [key, other_key, token]


def secrets_to_find(handled: list[str]) -> list[str]:
    return [
        *handled,
        ADMIN_KEY,
        LIVEAVATAR_KEY,
        OPENAI_KEY,
        TEST_SECRET,
        *ENCRYPTION_KEYS.split(","),
    ]


def assert_no_secret(text: str, secrets: list[str]) -> None:
    found = [s[:12] + "…" for s in secrets if s in text]
    assert found == [], f"secrets in the logs: {found}"


async def test_in_process_logs_hold_no_secret(
    client: httpx.AsyncClient, make_tenant: TenantFactory, caplog: pytest.LogCaptureFixture
) -> None:
    acme = await make_tenant("acme")
    other = await make_tenant("other")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
        try:
            handled = await rest_lifecycle(client, acme.key, other.key)
        finally:
            logging.getLogger("sqlalchemy.engine").setLevel(logging.NOTSET)
    text = caplog.text
    assert "SELECT" in text  # the SQL log really was captured
    assert_no_secret(text, secrets_to_find(handled))


@pytest.mark.slow
def test_server_output_holds_no_secret(tmp_path: Path) -> None:
    env = {
        "VISAVIS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'visavis.db'}",
        "VISAVIS_SECRET_KEY": TEST_SECRET,
        "VISAVIS_ADMIN_API_KEY": ADMIN_KEY,
        "VISAVIS_LIVEAVATAR_API_KEY": LIVEAVATAR_KEY,
        "VISAVIS_OPENAI_API_KEY": OPENAI_KEY,
        "VISAVIS_ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        "VISAVIS_LOG_LEVEL": "debug",
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    keys = []
    for name in ("acme", "other"):
        created = runner.invoke(cli, ["tenants", "create", name], env=env)
        assert created.exit_code == 0, created.output
        keys.append(created.stdout.strip())
    server = ServerProcess(cwd=tmp_path, env=env).start()

    async def lifecycle() -> list[str]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            return await rest_lifecycle(http, keys[0], keys[1])

    try:
        handled = asyncio.run(lifecycle())
    finally:
        server.stop()
    output = server.log()
    assert '"GET /v1/conversations?cursor=' in output  # the access log really was captured
    assert_no_secret(output, secrets_to_find(handled))


async def test_live_conversation_logs_hold_no_secret(
    live_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A WebSocket conversation with a provider avatar: tokens, media credentials, keys."""
    with (
        serve_liveavatar(api_key=LIVEAVATAR_KEY) as liveavatar,
        caplog.at_level(logging.DEBUG),
    ):
        server = live_server(
            liveavatar_base_url=liveavatar.base_url,
            liveavatar_api_key=LIVEAVATAR_KEY,
            openai_api_key=OPENAI_KEY,
            encryption_keys=ENCRYPTION_KEYS,
            log_level="debug",
        )
        tenant = await server.tenant("acme")
        plan = await store_plan(server.base_url, tenant.key)
        conversation_id, token = await start_conversation(
            server.base_url,
            tenant.key,
            {"avatar": {"provider": "heygen", "avatar_id": "W"}, "plan": plan},
        )
        client = LiveClient(server.base_url, conversation_id, token)
        await client.connect()
        ready = await client.wait_for("ready")
        await client.wait_for("turn_end", turn_id=1, timeout=60)
        await client.send({"type": "user_text", "text": "I write Go services."})
        await client.wait_for("turn_end", turn_id=2, timeout=60)
        await client.send({"type": "hello", "token": token})  # a mistake: echoed nowhere
        await client.send({"type": "end"})
        await client.wait_closed()
        # The face may join after ``ready``: its media then comes with an ``avatar`` message.
        shown = [ready["avatar"], *client.messages("avatar")]
        media = next((m["media"] for m in shown if m.get("media")), {})
        # The session's own credentials: its Bearer token and the LITE socket's token.
        provider_tokens = [
            secret
            for held in liveavatar.fake.sessions.values()
            for secret in (held.session_token, held.ws_token)
        ]
    assert provider_tokens
    secrets = secrets_to_find(
        [tenant.key, token, str(media.get("access_token", "x" * 40)), *provider_tokens]
    )
    assert media.get("access_token")
    assert_no_secret(caplog.text, secrets)
