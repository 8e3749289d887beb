"""Scale-out: one instance against two behind nginx, in the same run. Prints JSON.

Two ``visavis serve`` processes on one PostgreSQL database (created for the run, dropped after)
and one Redis, behind Debian's nginx running the shipped ``deploy/nginx/visavis.conf`` (its
upstreams rendered to loopback ports). The one-instance arm is the same nginx configuration
with both upstream entries on the first instance. For each arm:

- ``created_per_s``: conversations created per second (``POST /v1/conversations`` and its
  client token, ``--concurrency`` at a time, through nginx);
- ``sustained``: the most live conversations (steps of ``--step``) whose clients, playing the
  audio in real time as ``bench/turns.py`` does, saw 0 underruns and p95 first audio ≤ 800 ms;
  each step's figures are listed. The synthesis cache is off (``--tts-cache`` keeps it on), so
  every reply is synthesized and both arms do the same work.

Then, with two instances, ``--recovery`` conversations are opened, one instance is killed with
SIGKILL while its conversations are answering, and each of its clients reconnects through
nginx at once: ``recovery`` is the time from the kill until each is resumed on the other
instance (``ready``) and until its next answer's first audio.

Needs PostgreSQL (``VISAVIS_TEST_POSTGRES_URL``, default the local server) and Redis
(``VISAVIS_TEST_REDIS_URL``, default 127.0.0.1:6379).

    python bench/scaleout.py [--create 60 --concurrency 8 --step 4 --max-live 24 --recovery 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's test harness: server processes, nginx
sys.path.insert(0, str(ROOT / "bench"))

from tests.conversation.live_client import LiveClient, start_conversation  # noqa: E402
from tests.db_support import PostgresTestDatabase, postgres_admin_url  # noqa: E402
from tests.nginx_process import NginxProcess, find_nginx  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402

from turns import percentile, run_client  # noqa: E402
from visavis.cli import app as cli  # noqa: E402

P95_FIRST_AUDIO_MS = 800.0
ANSWER = "I have spent five years building Python services on PostgreSQL and Kafka."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _front(workdir: Path, nginx: str, upstreams: list[int]) -> Iterator[NginxProcess]:
    directory = Path(tempfile.mkdtemp(dir=workdir))
    front = NginxProcess(directory, nginx=nginx, listen=_free_port(), upstreams=upstreams)
    front.start()
    try:
        yield front
    finally:
        front.stop()


async def _create(base_url: str, key: str, count: int, concurrency: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    durations: list[float] = []

    async def one() -> None:
        async with gate:
            started = time.monotonic()
            await start_conversation(base_url, key, {"avatar": {"provider": "local"}})
            durations.append((time.monotonic() - started) * 1000)

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(count)))
    wall = time.monotonic() - started
    return {
        "conversations": count,
        "created_per_s": round(count / wall, 1),
        "create_ms_p50": round(statistics.median(durations), 1),
        "create_ms_p95": round(percentile(durations, 0.95), 1),
    }


async def _live(base_url: str, clients: int, turns: int) -> dict[str, Any]:
    results = await asyncio.gather(*(run_client(base_url, turns, i) for i in range(clients)))
    latencies = [x * 1000 for r in results for x in r.latencies_s]
    p95 = percentile(latencies, 0.95)
    underruns = sum(r.underruns for r in results)
    return {
        "live": clients,
        "turns": len(latencies),
        "first_audio_ms_p50": round(statistics.median(latencies), 1),
        "first_audio_ms_p95": round(p95, 1),
        "underruns": underruns,
        "ok": underruns == 0 and p95 <= P95_FIRST_AUDIO_MS,
    }


async def _arm(base_url: str, key: str, args: argparse.Namespace) -> dict[str, Any]:
    await _create(base_url, key, 2 * args.concurrency, args.concurrency)  # warm every instance
    created = await _create(base_url, key, args.create, args.concurrency)
    await _live(base_url, 4, 1)  # warm the voice and the code paths of both instances
    steps = [
        await _live(base_url, live, args.turns)
        for live in range(args.step, args.max_live + 1, args.step)
    ]
    sustained = max((step["live"] for step in steps if step["ok"]), default=0)
    return created | {"sustained": sustained, "steps": steps}


async def _recovery(
    base_url: str, key: str, servers: list[ServerProcess], count: int
) -> dict[str, Any]:
    opened = await asyncio.gather(
        *(
            start_conversation(base_url, key, {"avatar": {"provider": "local"}})
            for _ in range(count)
        )
    )
    clients = [LiveClient(base_url, cid, token) for cid, token in opened]
    await asyncio.gather(*(c.connect() for c in clients))
    await asyncio.gather(*(c.wait_for("turn_end", turn_id=1, timeout=120) for c in clients))
    for client in clients:
        await client.send({"type": "user_text", "text": ANSWER})
    await asyncio.sleep(0.3)  # the replies are under way
    victim = servers[-1]
    victim.kill()
    killed = time.monotonic()
    dropped: list[LiveClient] = []
    back_s: list[float] = []
    answered_s: list[float] = []

    async def come_back(client: LiveClient) -> None:
        """Reconnect as soon as the socket drops (only the victim's do)."""
        try:
            await client.wait_closed(timeout=5)
        except TimeoutError:
            return
        dropped.append(client)
        again = LiveClient(base_url, client.conversation_id, client.token)
        await again.connect()
        await again.wait_for("ready", timeout=60)
        back_s.append(time.monotonic() - killed)
        await again.wait_for("state", state="listening", timeout=60)
        at = len(again.received)
        await again.send({"type": "user_text", "text": ANSWER})
        await again.wait_frame(after=at, timeout=60)
        answered_s.append(time.monotonic() - killed)
        await again.close()

    await asyncio.gather(*(come_back(c) for c in clients))
    for client in clients:
        await client.close()
    return {
        "conversations": count,
        "on_killed_instance": len(dropped),
        "reconnect": "at once, through nginx, same conversation id and token",
        "back_s_p50": round(statistics.median(back_s), 2) if back_s else None,
        "back_s_max": round(max(back_s), 2) if back_s else None,
        "next_answer_audio_s_max": round(max(answered_s), 2) if answered_s else None,
    }


async def _tenant(env: dict[str, str], name: str) -> str:
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["tenants", "create", name], env=env)
    if result.exit_code != 0:
        raise SystemExit(f"could not create a tenant: {result.output}")
    return result.stdout.strip()


async def run(args: argparse.Namespace, nginx: str, database_url: str, workdir: Path) -> Any:
    env = {
        "VISAVIS_DATABASE_URL": database_url,
        "VISAVIS_REDIS_URL": os.environ.get("VISAVIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "VISAVIS_SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "VISAVIS_RATE_LIMIT_TENANT_PER_S": "0",
        "VISAVIS_RATE_LIMIT_KEY_PER_S": "0",
        "VISAVIS_LOG_LEVEL": "warning",
        # Off unless asked: every reply is synthesized, as replies that differ would be.
        "VISAVIS_TTS_CACHE_MAX_BYTES": "67108864" if args.tts_cache else "0",
    } | {k: v for k, v in os.environ.items() if k.startswith("VISAVIS_TTS_")}
    servers = []
    for name in ("one", "two"):
        (workdir / name).mkdir()
        servers.append(ServerProcess(cwd=workdir / name, env=env))
    try:
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))
        first, second = (s.port for s in servers)
        result: dict[str, Any] = {"benchmark": "scaleout", "cpu_cores": os.cpu_count()}
        with _front(workdir, nginx, [first, first]) as front:
            result["one_instance"] = await _arm(front.base_url, await _tenant(env, "one"), args)
        with _front(workdir, nginx, [first, second]) as front:
            result["two_instances"] = await _arm(front.base_url, await _tenant(env, "two"), args)
            result["recovery"] = await _recovery(
                front.base_url, await _tenant(env, "recovery"), servers, args.recovery
            )
        result["load_average_1m"] = os.getloadavg()[0]
        return result
    finally:
        for server in servers:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--create", type=int, default=60, help="conversations created per arm")
    parser.add_argument("--concurrency", type=int, default=8, help="creations at a time")
    parser.add_argument("--step", type=int, default=4, help="live conversations added per step")
    parser.add_argument("--max-live", type=int, default=24)
    parser.add_argument("--turns", type=int, default=2, help="answers per live conversation")
    parser.add_argument("--tts-cache", action="store_true", help="keep the synthesis cache on")
    parser.add_argument("--recovery", type=int, default=20, help="conversations at the kill")
    args = parser.parse_args()
    nginx = find_nginx() or shutil.which("nginx")
    if nginx is None:
        raise SystemExit("nginx is missing: install the Debian package 'nginx'")
    database = PostgresTestDatabase(postgres_admin_url())
    asyncio.run(database.create())
    try:
        with tempfile.TemporaryDirectory() as workdir:
            result = asyncio.run(run(args, nginx, database.url, Path(workdir)))
    finally:
        asyncio.run(database.drop())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
