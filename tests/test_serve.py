"""``visavis serve`` as a real process: cold start on embedded defaults, crash safety."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.server_process import ServerProcess
from visavis.cli import app as cli
from visavis.db.engine import create_engine


@pytest.mark.slow
def test_serve_on_embedded_defaults_is_ready_and_creates_the_local_tenant(
    tmp_path: Path,
) -> None:
    server = ServerProcess(cwd=tmp_path, env={}).start(ready_timeout_s=30)
    try:
        assert (tmp_path / "var" / "visavis.db").exists()
        created = httpx.post(server.base_url + "/v1/local/conversations", json={}, timeout=10)
        assert created.status_code == 201
        assert created.json()["conversation"]["agent"] == "interviewer"
    finally:
        server.stop()
    print(f"cold start to /readyz 200: {server.ready_after_s:.2f} s")


def _hammer(base_url: str, key: str, acked: list[str], stop: threading.Event) -> None:
    with httpx.Client(base_url=base_url, timeout=5) as http:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                r = http.post(
                    "/v1/conversations",
                    json={"user_ref": f"user-{n}", "avatar": True},
                    headers={"Authorization": f"Bearer {key}"},
                )
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 201:
                acked.append(r.json()["id"])


@pytest.mark.slow
def test_sigkill_during_writes_restarts_cleanly(database_url: str, tmp_path: Path) -> None:
    env = {"VISAVIS_DATABASE_URL": database_url}
    result = CliRunner().invoke(cli, ["tenants", "create", "crashy"], env=env)
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()

    server = ServerProcess(cwd=tmp_path, env=env).start()
    acked: list[str] = []
    stop = threading.Event()
    workers = [
        threading.Thread(target=_hammer, args=(server.base_url, key, acked, stop)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    while len(acked) < 40:
        threading.Event().wait(0.02)
    server.kill()
    stop.set()
    for worker in workers:
        worker.join(timeout=10)

    restarted = ServerProcess(cwd=tmp_path, env=env, port=server.port).start()
    try:
        with httpx.Client(base_url=restarted.base_url, timeout=10) as http:
            headers = {"Authorization": f"Bearer {key}"}
            for conversation_id in acked:
                r = http.get(f"/v1/conversations/{conversation_id}", headers=headers)
                assert r.status_code == 200, conversation_id
                assert r.json()["avatar"]["provider"] == "local"
            assert http.post("/v1/conversations", json={}, headers=headers).status_code == 201
    finally:
        restarted.stop()

    asyncio.run(_assert_complete(database_url, acked))
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def _assert_complete(database_url: str, acked: list[str]) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            incomplete = await connection.scalar(
                text(
                    "SELECT count(*) FROM conversations WHERE agent IS NULL OR tenant_id IS NULL "
                    "OR created_at IS NULL"
                )
            )
            assert incomplete == 0
            ids = {
                str(uuid.UUID(str(row[0])))
                for row in await connection.execute(text("SELECT id FROM conversations"))
            }
            assert set(acked) <= ids
    finally:
        await engine.dispose()
