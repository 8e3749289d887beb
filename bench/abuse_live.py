"""The live half of the abuse bench (``bench/abuse.py`` runs these too): real ``visavis serve``
processes and real WebSockets.

- ``slow_clients_20``: 20 clients that keep talking but never read: server memory before,
  while they are connected, and 30 s after they were cut off; and how many were cut off.
- ``unauthenticated_hellos_20x15mib``: 20 sockets each sending a 15 MiB ``hello``: server
  memory before, at its peak, and after.
- ``transcript_lines_lost_postgres_outage_30s``: 10 live conversations on PostgreSQL through a
  TCP proxy that is cut for 30 s while they talk: lines the clients were shown vs stored.
- ``end_on_b_closes_ws_on_a_ms``: two instances on one database; ``end`` through instance B,
  time until the client connected to instance A gets ``end`` (5 rounds), and how A heard it.
- ``end_on_b_closes_ws_on_a_redis_ms``: the same with Redis (owner notices by pub/sub).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's test fakes
from tests.fakes.tcp_proxy import TcpProxy  # noqa: E402

from served import ServedVisavis, served_visavis  # noqa: E402

LiveMeasurement = Callable[[], Awaitable[dict[str, Any]]]
LIVE_MEASUREMENTS: dict[str, LiveMeasurement] = {}
REDIS_URL = os.environ.get("VISAVIS_BENCH_REDIS", "redis://127.0.0.1:6379/0")
PG_ADMIN = os.environ.get("VISAVIS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def live(name: str) -> Callable[[LiveMeasurement], LiveMeasurement]:
    def register(function: LiveMeasurement) -> LiveMeasurement:
        LIVE_MEASUREMENTS[name] = function
        return function

    return register


def server_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def make_tenant(workdir: str, env: dict[str, str]) -> str:
    import subprocess

    base = {k: v for k, v in os.environ.items() if not k.startswith("VISAVIS_")}
    done = subprocess.run(
        [sys.executable, "-m", "visavis", "tenants", "create", f"bench-{secrets.token_hex(3)}"],
        cwd=workdir,
        env=base | env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


async def conversation(base_url: str, key: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        created = (await http.post("/v1/conversations", json={})).json()
        token = (await http.post(f"/v1/conversations/{created['id']}/client-token")).json()
    return created["id"], token["token"]


def ws_url(base_url: str, conversation_id: str) -> str:
    return base_url.replace("http://", "ws://") + f"/v1/conversations/{conversation_id}/ws"


@contextmanager
def shared_sqlite() -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+aiosqlite:///{Path(workdir) / 'shared.db'}"
        yield {"VISAVIS_DATABASE_URL": url, "VISAVIS_SWEEPER_INTERVAL_S": "3600"}


ADMIN_KEY = "bench-admin-key-" + "x" * 32


async def scraped(server: ServedVisavis, name: str, **labels: str) -> float:
    """One value of the server's /metrics (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        text = (await http.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"})).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


@live("slow_clients_20")
async def slow_clients_20() -> dict[str, Any]:
    with (
        shared_sqlite() as env,
        served_visavis(env | {"VISAVIS_ADMIN_API_KEY": ADMIN_KEY}) as server,
    ):
        key = make_tenant(tempfile.gettempdir(), env)
        before = server_rss_mib(server.pid)
        sockets = []
        for _ in range(20):
            conversation_id, token = await conversation(server.base_url, key)
            raw = socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.setblocking(False)
            ws = await websockets.connect(
                ws_url(server.base_url, conversation_id), sock=raw, max_size=None, max_queue=1
            )
            await ws.send(json.dumps({"type": "hello", "token": token, "sample_rate": 48000}))
            sockets.append(ws)
        peak = before
        started = time.monotonic()
        while time.monotonic() - started < 25:  # they talk, never read
            for ws in sockets:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await ws.send(json.dumps({"type": "user_text", "text": "Tell me more."}))
            peak = max(peak, server_rss_mib(server.pid))
            await asyncio.sleep(1.0)
        during = server_rss_mib(server.pid)
        live_during = await scraped(server, "visavis_conversations_active")
        await asyncio.sleep(30)
        after = server_rss_mib(server.pid)
        live_after = await scraped(server, "visavis_conversations_active")
        cut_off = await scraped(server, "visavis_websocket_disconnects_total", code="4408")
        for ws in sockets:
            with contextlib.suppress(Exception):
                ws.transport.abort()
        return {
            "clients": 20,
            "live_conversations": {"while_talking": live_during, "30s_later": live_after},
            "cut_off_4408": cut_off,
            "server_rss_mib": {
                "before": before,
                "peak": peak,
                "during": during,
                "after_30s": after,
            },
        }


@live("unauthenticated_hellos_20x15mib")
async def unauthenticated_hellos() -> dict[str, Any]:
    hello = json.dumps({"type": "hello", "token": "x" * (15 * 2**20)})
    with shared_sqlite() as env, served_visavis(env) as server:
        key = make_tenant(tempfile.gettempdir(), env)
        conversation_id, _ = await conversation(server.base_url, key)
        before = server_rss_mib(server.pid)
        peak = before
        refused = 0

        async def one() -> None:
            nonlocal refused
            try:
                async with websockets.connect(
                    ws_url(server.base_url, conversation_id), max_size=None
                ) as ws:
                    await ws.send(hello)
                    await asyncio.wait_for(ws.recv(), 10)
            except (websockets.ConnectionClosed, OSError, TimeoutError):
                refused += 1

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, server_rss_mib(server.pid))
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        await asyncio.gather(*(one() for _ in range(20)))
        watcher.cancel()
        await asyncio.sleep(2)
        return {
            "sockets": 20,
            "refused": refused,
            "server_rss_mib": {"before": before, "peak": peak, "after": server_rss_mib(server.pid)},
        }


@live("end_on_b_closes_ws_on_a_ms")
async def end_across_instances() -> dict[str, Any]:
    """Without Redis: the holder finds the change in its lease poll."""
    with shared_sqlite() as env:
        return await _end_across(env)


@live("end_on_b_closes_ws_on_a_redis_ms")
async def end_across_instances_redis() -> dict[str, Any]:
    """With Redis: instance B publishes a notice and the holder checks at once."""
    with shared_sqlite() as env:
        channel = f"visavis-bench:{secrets.token_hex(4)}"
        return await _end_across(
            env | {"VISAVIS_REDIS_URL": REDIS_URL, "VISAVIS_REDIS_NOTICE_CHANNEL": channel}
        )


async def _end_across(env: dict[str, str]) -> dict[str, Any]:
    env = env | {"VISAVIS_ADMIN_API_KEY": ADMIN_KEY}
    with served_visavis(env) as a, served_visavis(env) as b:
        key = make_tenant(tempfile.gettempdir(), env)
        await asyncio.sleep(1)  # both instances have subscribed (with Redis)
        times = []
        for _ in range(5):
            conversation_id, token = await conversation(a.base_url, key)
            async with websockets.connect(ws_url(a.base_url, conversation_id)) as ws:
                await ws.send(json.dumps({"type": "hello", "token": token}))
                await _until(ws, lambda m: m.get("type") == "ready")
                async with httpx.AsyncClient(base_url=b.base_url, timeout=30) as http:
                    asked = time.monotonic()
                    await http.post(
                        f"/v1/conversations/{conversation_id}/end",
                        headers={"Authorization": f"Bearer {key}"},
                    )
                await _until(ws, lambda m: m.get("type") == "end")
                times.append(round((time.monotonic() - asked) * 1000))
        heard = "visavis_owner_changes_heard_total"
        return {
            "rounds_ms": times,
            "max_ms": max(times),
            "heard_by_pubsub": await scraped(a, heard, kind="end", path="pubsub"),
            "heard_by_poll": await scraped(a, heard, kind="end", path="poll"),
        }


@live("transcript_lines_lost_postgres_outage_30s")
async def postgres_outage() -> dict[str, Any]:
    name = f"visavis_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    proxy = TcpProxy("127.0.0.1", 5432).start()
    try:
        env = {
            "VISAVIS_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{name}",
            "VISAVIS_SWEEPER_INTERVAL_S": "3600",
        }
        with served_visavis(env) as server:
            key = make_tenant(tempfile.gettempdir(), env)
            return await _talk_through_outage(server, key, proxy)
    finally:
        proxy.close()
        await asyncio.sleep(1)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _talk_through_outage(server: ServedVisavis, key: str, proxy: TcpProxy) -> dict[str, Any]:
    shown: dict[str, list[tuple[str, str]]] = {}
    saved_again = 0

    async def one(conversation_id: str, token: str) -> None:
        nonlocal saved_again
        lines = shown.setdefault(conversation_id, [])
        async with websockets.connect(ws_url(server.base_url, conversation_id)) as ws:
            await ws.send(json.dumps({"type": "hello", "token": token}))
            deadline = time.monotonic() + 75
            next_text = time.monotonic() + 5
            while time.monotonic() < deadline:
                if time.monotonic() >= next_text:
                    text = {"type": "user_text", "text": "I lead the data platform team."}
                    await ws.send(json.dumps(text))
                    next_text = time.monotonic() + 8
                with contextlib.suppress(TimeoutError):
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                    if isinstance(raw, str):
                        message = json.loads(raw)
                        if message["type"] == "transcript":
                            lines.append((message["entry"]["role"], message["entry"]["text"]))
                        elif message["type"] == "storage" and message["saved"]:
                            saved_again += 1

    conversations = [await conversation(server.base_url, key) for _ in range(10)]
    talking = asyncio.gather(*(one(c, t) for c, t in conversations))
    await asyncio.sleep(15)
    proxy.cut()
    await asyncio.sleep(30)
    proxy.restore()
    await talking
    await asyncio.sleep(5)
    lost = 0
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        for conversation_id, _ in conversations:
            items = (await http.get(f"/v1/conversations/{conversation_id}/transcript")).json()
            stored = [(i["role"], i["text"]) for i in items["items"]]
            lost += sum(1 for line in shown[conversation_id] if line not in stored)
    return {
        "conversations": 10,
        "outage_s": 30,
        "lines_shown": sum(len(v) for v in shown.values()),
        "lines_lost": lost,
        "conversations_told_saved_again": saved_again,
    }


async def _until(ws: Any, predicate: Callable[[dict[str, Any]], bool]) -> None:
    while True:
        raw = await asyncio.wait_for(ws.recv(), 30)
        if isinstance(raw, str) and predicate(json.loads(raw)):
            return
