"""Nothing the client was shown is lost when the database goes away for a while.

PostgreSQL is reached through a TCP proxy that the test cuts for five seconds in the middle of
a turn (every connection dropped, new ones refused), as a network fault or a database restart
would; SQLite is held under an exclusive lock by another connection for as long. The
conversation goes on, the client is told its words are not saved yet, and once the database
is back every transcript line the client saw is stored, in order.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from tests.conversation.live_client import LiveClient, start_conversation
from tests.fakes.tcp_proxy import TcpProxy
from tests.live_server import ServerFactory
from visavis.config import Settings
from visavis.db.engine import sqlite_path

OUTAGE_S = 5.0


async def test_transcript_lines_survive_a_database_outage(
    live_server: ServerFactory, settings: Settings
) -> None:
    url = make_url(settings.database_url)
    proxy: TcpProxy | None = None
    if url.get_backend_name() == "postgresql":
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
        server = live_server(database_url=url.set(port=proxy.port).render_as_string(False))
    else:
        server = live_server()
    try:
        tenant = await server.tenant("acme")
        conversation_id, token = await start_conversation(server.base_url, tenant.key, None)
        client = LiveClient(server.base_url, conversation_id, token)
        await client.connect()
        await client.wait_for("turn_end", turn_id=1, timeout=60)

        async with _outage(proxy, settings.database_url):
            mark = len(client.received)
            await client.send({"type": "user_text", "text": "I run the payments team at a bank."})
            await client.wait_for("turn_end", turn_id=2, after=mark, timeout=60)
            if proxy is not None:
                stalled = await client.wait_for("storage", saved=False, timeout=10)
                assert stalled["pending"] >= 1
        if proxy is not None:
            await client.wait_for("storage", saved=True, timeout=30)
        await client.wait_count("transcript", 3, timeout=30)  # held lines follow, once stored
        shown = [(m["entry"]["role"], m["entry"]["text"]) for m in client.messages("transcript")]
        assert [role for role, _ in shown] == ["agent", "user", "agent"]
        await client.close()

        headers = {"Authorization": f"Bearer {tenant.key}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
            stored = await _transcript(http, conversation_id, count=len(shown))
        assert [(item["role"], item["text"]) for item in stored] == shown
    finally:
        if proxy is not None:
            proxy.close()


class _outage:
    """Cut the PostgreSQL proxy, or lock the SQLite file, for ``OUTAGE_S`` from entry."""

    def __init__(self, proxy: TcpProxy | None, database_url: str) -> None:
        self.proxy = proxy
        self.database_url = database_url
        self.lock: sqlite3.Connection | None = None
        self.started = 0.0

    async def __aenter__(self) -> None:
        self.started = time.monotonic()
        if self.proxy is not None:
            self.proxy.cut()
            return
        path = sqlite_path(make_url(self.database_url))
        assert path is not None
        self.lock = sqlite3.connect(path, timeout=1, isolation_level=None)
        self.lock.execute("BEGIN EXCLUSIVE")

    async def __aexit__(self, *_: Any) -> None:
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - self.started)))
        if self.proxy is not None:
            self.proxy.restore()
        if self.lock is not None:
            self.lock.execute("ROLLBACK")
            self.lock.close()


async def _transcript(
    http: httpx.AsyncClient, conversation_id: str, *, count: int
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        answer = await http.get(f"/v1/conversations/{conversation_id}/transcript")
        items: list[dict[str, Any]] = answer.json().get("items", []) if answer.is_success else []
        if len(items) >= count or time.monotonic() > deadline:
            return items
        await asyncio.sleep(0.2)
