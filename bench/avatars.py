"""Server overhead of provider avatars, against zero-latency fakes running in their own processes.

- start: creating and starting a provider session for a conversation, as the server does it
  (records in the database, HTTP calls to the provider, encrypted browser credentials);
- speak: one sentence through the provider (HeyGen: a ``streaming.task`` call; Akool: building
  the data-stream chunks and handing them to the browser's relay).

Prints JSON (milliseconds, p50/p95/max). Everything measured includes the fakes' own work, so
the server's overhead is at most these figures.

    python bench/avatars.py [--runs 200] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from visavis.avatars.akool.api import AkoolAPI
from visavis.avatars.akool.provider import AkoolOptions, AkoolProvider
from visavis.avatars.base import AvatarProvider, SessionRequest
from visavis.avatars.heygen.api import HeyGenAPI
from visavis.avatars.heygen.provider import HeyGenProvider
from visavis.avatars.launcher import AvatarLauncher
from visavis.avatars.store import AvatarStore
from visavis.config import Settings
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.migrate import upgrade
from visavis.db.models import Conversation
from visavis.db.repositories.tenants import TenantRepository
from visavis.tenancy.crypto import SecretBox

SENTENCE = "That is a really interesting project, thank you for walking me through it."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake(module: str, knobs: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port), "--config", json.dumps(knobs)],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(base_url + "/_fake/sessions", timeout=1)
            return proc, base_url
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{module} did not start") from None
            time.sleep(0.1)


class TimedProvider(AvatarProvider):
    """Delegates to a provider and adds up the time spent in its (HTTP) calls."""

    def __init__(self, inner: AvatarProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.limits = inner.limits
        self.billing = inner.billing
        self.spent_s = 0.0

    async def _timed(self, call: Any) -> Any:
        began = time.perf_counter()
        try:
            return await call
        finally:
            self.spent_s += time.perf_counter() - began

    async def create_session(self, request: SessionRequest) -> Any:
        return await self._timed(self.inner.create_session(request))

    async def start(self, session: Any) -> None:
        await self._timed(self.inner.start(session))

    async def speak(self, session: Any, text: str, *, sink: Any) -> Any:
        return await self._timed(self.inner.speak(session, text, sink=sink))

    async def interrupt(self, session: Any, *, sink: Any) -> None:
        await self._timed(self.inner.interrupt(session, sink=sink))

    async def keep_alive(self, session: Any) -> None:
        await self._timed(self.inner.keep_alive(session))

    async def stop(self, session_id: str) -> bool:
        result: bool = await self._timed(self.inner.stop(session_id))
        return result

    async def list_active(self) -> Any:
        return await self._timed(self.inner.list_active())

    async def aclose(self) -> None:
        await self.inner.aclose()


def summary(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in samples_s)
    return {
        "p50": round(statistics.median(ms), 2),
        "p95": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2),
        "max": round(ms[-1], 2),
    }


async def bench(database_url: str, runs: int, heygen_url: str, akool_url: str) -> dict[str, Any]:
    engine = create_engine(database_url)
    await upgrade(engine)
    sessions = create_session_factory(engine)
    providers: dict[str, TimedProvider] = {
        "heygen": TimedProvider(
            HeyGenProvider(HeyGenAPI(api_key="test-heygen-key", base_url=heygen_url))
        ),
        "akool": TimedProvider(
            AkoolProvider(
                AkoolAPI(base_url=akool_url, api_key="test-akool-key"),
                AkoolOptions(poll_interval_s=0.0),
            )
        ),
    }
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    store = AvatarStore(
        sessions, providers, SecretBox.from_config(encryption_keys=None, secret_key="b" * 40)
    )
    launcher = AvatarLauncher(settings=settings, store=store, providers=providers)
    async with sessions() as db:
        tenant = await TenantRepository(db).create(name=f"bench-{uuid.uuid4().hex[:6]}")
        await db.commit()
    result: dict[str, Any] = {"database": engine.dialect.name, "runs": runs}
    try:
        for name, provider in providers.items():
            starts: list[float] = []
            overheads: list[float] = []
            launched = []
            for _ in range(runs):
                async with sessions() as db:
                    conversation = Conversation(
                        tenant_id=tenant.id,
                        agent="interviewer",
                        avatar_requested=True,
                        avatar_enabled=True,
                        avatar_provider=name,
                        avatar_id="bench",
                    )
                    db.add(conversation)
                    await db.commit()
                provider.spent_s = 0.0
                began = time.perf_counter()
                launch = await launcher.start(conversation)
                starts.append(time.perf_counter() - began)
                overheads.append(starts[-1] - provider.spent_s)
                assert launch.ok, launch.reason
                launched.append(launch)
                if len(launched) > 1 and launch.row_id is not None:
                    # Providers cap concurrent sessions: only the first stays, for the speak runs.
                    await store.stop(launch.row_id, reason="conversation_ended", settle=False)
            session = launched[0].session
            assert session is not None
            relayed: list[str] = []
            speaks: list[float] = []
            chunk_overheads: list[float] = []
            http = provider.inner if name == "heygen" else None
            for _ in range(runs):
                provider.spent_s = 0.0
                began = time.perf_counter()
                await provider.speak(session, SENTENCE, sink=_relay(relayed))
                speaks.append(time.perf_counter() - began)
                # HeyGen's speak is one HTTP call: what is ours is around it. Akool's is all ours
                # (chunking, pacing, handing to the browser relay).
                chunk_overheads.append(speaks[-1] - (provider.spent_s if http else 0.0))
                if name == "akool":
                    await asyncio.sleep(0.2)  # stay within the data stream's bytes per second
            result[name] = {
                "start_total_ms": summary(starts),
                "start_server_overhead_ms": summary(overheads),
                "speak_total_ms": summary(speaks),
                "speak_chunk_overhead_ms": summary(chunk_overheads),
            }
            if launched[0].row_id is not None:
                await store.stop(launched[0].row_id, reason="conversation_ended", settle=False)
    finally:
        for provider in providers.values():
            await provider.aclose()
        await engine.dispose()
    return result


def _relay(relayed: list[str]) -> Any:
    async def relay(data: str) -> None:
        relayed.append(data)

    return relay


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    heygen, heygen_url = start_fake("tests.fakes.heygen", {"ms_per_char": 0.0})
    akool, akool_url = start_fake("tests.fakes.akool", {"polls_to_ready": 0})
    try:
        with tempfile.TemporaryDirectory() as workdir:
            url = args.database_url or f"sqlite+aiosqlite:///{workdir}/bench.db"
            print(json.dumps(asyncio.run(bench(url, args.runs, heygen_url, akool_url)), indent=2))
    finally:
        for proc in (heygen, akool):
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
