"""Webhook delivery: events to a loopback receiver that fails 30 % of requests. Prints JSON.

Two runs on one scratch database, each with two delivery workers in processes of their own
(two instances):

- ``steady``: ``--events`` events recorded at ``--rate`` per second; every one must reach the
  receiver (0 lost) exactly once (no duplicates without a crash); the delay from an event to
  its first delivery attempt is measured from the delivery rows (p50/p95/max).
- ``crash``: the same with one worker killed with SIGKILL mid-run; its leased deliveries are
  sent again by the other once the lease ends: 0 lost, a few duplicates allowed.

Retries use a shortened backoff (base 0.2 s, at most 2 s) so the run ends in a minute; the
production schedule (5 s doubling to an hour) differs only in the waits.

    .venv/bin/python bench/webhooks.py [--url postgresql+asyncpg://…] [--events 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from visavis.db.engine import create_engine, create_session_factory
from visavis.db.migrate import upgrade
from visavis.db.models import WebhookDelivery
from visavis.db.repositories.tenants import TenantRepository
from visavis.ops.events import EventRecorder
from visavis.ops.webhook_delivery import DeliveryOptions, WebhookDispatcher
from visavis.ops.webhook_endpoints import WebhookEndpoints
from visavis.tenancy.crypto import SecretBox

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parents[1]
BOX_SECRET = "bench-secret-key-that-is-long-enough-0123456789"
OPTIONS = DeliveryOptions(
    timeout_s=5.0,
    retry_base_s=0.2,
    retry_max_s=2.0,
    poll_interval_s=0.1,
    lease_margin_s=15.0,
    concurrency=32,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def worker(url: str) -> None:
    """One instance's dispatcher, until SIGTERM (graceful) or SIGKILL (a crash)."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    events = EventRecorder(sessions)
    box = SecretBox.from_config(encryption_keys=None, secret_key=BOX_SECRET)
    dispatcher = WebhookDispatcher(sessions=sessions, box=box, options=OPTIONS, events=events)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    dispatcher.start()
    await stop.wait()
    await dispatcher.aclose()
    await engine.dispose()


def _start_worker(url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", url],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT / "src")},
    )


async def _received(receiver_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{receiver_url}/_received")
        body: dict[str, Any] = response.json()
        return body


def _start_receiver(port: int, secret: str, fail_rate: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.webhook_receiver",
            "--port",
            str(port),
            "--secret",
            secret,
            "--fail-rate",
            str(fail_rate),
        ],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"},
        stdout=subprocess.DEVNULL,
    )


async def _run(
    url: str,
    *,
    name: str,
    events: int,
    rate: float,
    fail_rate: float,
    crash_after_s: float | None,
) -> dict[str, Any]:
    port = _free_port()
    receiver_url = f"http://127.0.0.1:{port}"
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    recorder = EventRecorder(sessions)
    box = SecretBox.from_config(encryption_keys=None, secret_key=BOX_SECRET)
    async with sessions() as session:
        tenant = await TenantRepository(session).create(name=f"bench-{name}")
        endpoint, secret = await WebhookEndpoints(session, tenant.id).register(
            url=f"{receiver_url}/hook", event_types=None, box=box, require_https=False
        )
        await session.commit()
    receiver = _start_receiver(port, secret, fail_rate)
    await _wait_for(receiver_url)
    workers = [_start_worker(url), _start_worker(url)]
    started = time.monotonic()
    ids: list[str] = []
    crashed = False
    try:
        for n in range(events):
            due = started + n / rate
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            ids.append(
                str(
                    await recorder.record(
                        tenant_id=tenant.id, type="turn_completed", data={"turn": n}
                    )
                )
            )
            if (
                crash_after_s is not None
                and not crashed
                and time.monotonic() - started > crash_after_s
            ):
                workers[0].send_signal(signal.SIGKILL)
                crashed = True
        recorded_s = time.monotonic() - started
        deadline = time.monotonic() + 600
        while True:
            async with sessions() as session:
                pending = await session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(
                        WebhookDelivery.endpoint_id == endpoint.id,
                        WebhookDelivery.status == "pending",
                    )
                )
            if not pending or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        drained_s = time.monotonic() - started
        received = await _received(receiver_url)
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers:
            process.wait(timeout=60)
        receiver.terminate()
        receiver.wait(timeout=30)
    async with sessions() as session:
        rows = (
            await session.execute(
                select(
                    WebhookDelivery.created_at,
                    WebhookDelivery.first_attempt_at,
                    WebhookDelivery.status,
                ).where(WebhookDelivery.endpoint_id == endpoint.id)
            )
        ).all()
    await engine.dispose()
    delays = sorted(
        (first - created).total_seconds() * 1000 for created, first, _ in rows if first is not None
    )
    mine = received["requests"]
    accepted = Counter(r["event_id"] for r in mine if r["ok"])
    return {
        "run": name,
        "events": events,
        "recorded_per_s": round(events / recorded_s, 1),
        "drained_s": round(drained_s, 1),
        "attempts": len(mine),
        "receiver_failures": sum(1 for r in mine if not r["ok"]),
        "delivered": Counter(status for *_, status in rows)["delivered"],
        "lost": len(set(ids) - set(accepted)),
        "duplicates": sum(count - 1 for count in accepted.values()),
        "bad_signatures": received["bad_signatures"],
        "first_attempt_delay_ms_p50": round(statistics.median(delays), 1),
        "first_attempt_delay_ms_p95": round(delays[int(len(delays) * 0.95) - 1], 1),
        "first_attempt_delay_ms_max": round(delays[-1], 1),
        "worker_killed": crashed,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    name = f"visavis_bench_{int(time.time())}_{secrets.token_hex(3)}"
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(_dsn(args.url), timeout=10)
    await admin.execute(f'CREATE DATABASE "{name}"')
    results = []
    try:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        steady = await _run(
            url,
            name="steady",
            events=args.events,
            rate=args.rate,
            fail_rate=args.fail_rate,
            crash_after_s=None,
        )
        crash_events = max(1000, args.events // 5)
        crash = await _run(
            url,
            name="crash",
            events=crash_events,
            rate=args.rate,
            fail_rate=args.fail_rate,
            crash_after_s=crash_events / args.rate / 2,
        )
        results = [steady, crash]
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "benchmark": "webhooks",
        "database": "postgresql",
        "workers": 2,
        "receiver_fail_rate": args.fail_rate,
        "cpu_count": os.cpu_count(),
        "results": results,
    }


async def _wait_for(url: str) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(100):
            try:
                await http.get(f"{url}/_received")
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the receiver did not start")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        asyncio.run(worker(sys.argv[2]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("VISAVIS_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=250.0, help="events recorded per second")
    parser.add_argument("--fail-rate", type=float, default=0.3)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
