"""A server killed with SIGKILL mid-conversation: every transcript line the client was shown is
in the stored transcript after a restart.

The kill comes while the database is slow to commit (another connection holds the transcript
table's write lock, as a long transaction or a busy disk would): the person has just spoken and
the agent is answering. A line is shown only once it is stored, so the client may lack the line
the crash took, but never holds one the record lacks.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tests.conversation.live_client import LiveClient, start_conversation
from tests.server_process import ServerProcess
from visavis.cli import app as cli
from visavis.db.engine import sqlite_path

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("live_clients_closed")]


@asynccontextmanager
async def _writes_held(database_url: str) -> AsyncIterator[None]:
    """Hold back every transcript write (readers go on) until the block exits."""
    path = sqlite_path(database_url)
    if path is not None:
        lock = sqlite3.connect(path, timeout=5, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the one writer of a WAL database, until rollback
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        return
    url = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("LOCK TABLE transcript_entries IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await connection.close()


async def test_lines_shown_before_a_sigkill_are_stored(database_url: str, tmp_path: Path) -> None:
    env = {"VISAVIS_DATABASE_URL": database_url, "VISAVIS_SWEEPER_INTERVAL_S": "3600"}
    created = await asyncio.to_thread(
        CliRunner().invoke, cli, ["tenants", "create", "crash"], env=env
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    server = ServerProcess(cwd=tmp_path, env=env).start()
    try:
        conversation_id, token = await start_conversation(server.base_url, key, None)
        client = LiveClient(server.base_url, conversation_id, token)
        await client.connect()
        await client.wait_for("turn_end", turn_id=1, timeout=60)
        await client.wait_for("transcript", timeout=30)  # the greeting, stored
        async with _writes_held(database_url):
            mark = len(client.received)
            await client.send({"type": "user_text", "text": "I build payment systems in Go."})
            await client.wait_for("sentence", turn_id=2, after=mark, timeout=60)
            server.kill()
        await client.close()
    finally:
        server.stop()
    shown = [(m["entry"]["role"], m["entry"]["text"]) for m in client.messages("transcript")]
    assert shown, "the client was shown no line at all"

    restarted = ServerProcess(cwd=tmp_path, env=env, port=server.port).start()
    try:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=restarted.base_url, headers=headers) as http:
            answer = await http.get(f"/v1/conversations/{conversation_id}/transcript")
        assert answer.status_code == 200, answer.text
        stored = [(item["role"], item["text"]) for item in answer.json()["items"]]
    finally:
        restarted.stop()
    # Neither process logged an unhandled error ("Task exception was never retrieved" included).
    assert "Traceback" not in restarted.log(), restarted.log()
    missing = [line for line in shown if line not in stored]
    assert not missing, f"shown to the client but not stored: {missing}"
    assert stored[: len(shown)] == shown, "stored in the order shown"
