"""Abuse bench: what hostile or careless input costs an instance. Prints JSON.

Each measurement runs in a child process of its own, so its peak memory (``ru_maxrss``) is
its own. Memory figures are resident set sizes in MiB: after the voice is loaded, the peak,
and after the work (garbage collected and ``malloc_trim``-ed: what was returned).

- ``speech_cjk_600``: a 600-character Chinese reply through the instance's voice, sentence by
  sentence with one reply budget, as a live conversation speaks it.
- ``speech_english_4000``: a 4,000-character English reply, the same way.
- ``failed_auth_400``: 400 requests with bad keys from one address (in-process server on
  SQLite): how many were answered 401 before the back-off turned them into 429.
- ``hung_redis_20``: 20 authenticated requests while Redis accepts connections and never
  answers: milliseconds each (the circuit breaker makes only the first wait).

Measurements are functions registered in ``MEASUREMENTS`` (name → async function returning a
dict); those against real servers and sockets (slow readers, unauthenticated hellos, a
PostgreSQL outage, ``end`` across instances) are in ``abuse_live.py``. Usage:
``python bench/abuse.py [--only speech_cjk_600,hung_redis_20]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Measurement = Callable[[], Awaitable[dict[str, Any]]]
MEASUREMENTS: dict[str, Measurement] = {}
#: What the issue asks for that this bench does not measure, and why.
NOT_MEASURED: dict[str, str] = {}

SENTENCE = "我们今天讨论一下这个项目的进展情况以及下一步的计划，请大家发表意见。"
CJK_600 = (SENTENCE * 20)[:600]
ENGLISH = (
    "We looked at the plan for the next quarter and agreed on three goals. "
    "The first is to ship the new search page before the end of March. "
    "The second is to halve the time it takes to onboard a new customer. "
    "The third is to answer every support ticket within one working day. "
    "Each goal has an owner, a date and a way to tell whether it was met. "
)
ENGLISH_4000 = (ENGLISH * 20)[:4000]


def measurement(name: str) -> Callable[[Measurement], Measurement]:
    """Register a measurement under ``name``."""

    def register(function: Measurement) -> Measurement:
        MEASUREMENTS[name] = function
        return function

    return register


def rss_mib() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def returned_rss_mib() -> float:
    """Resident memory after collecting garbage and giving free heap back to the system."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    return rss_mib()


async def speak_reply(text: str) -> dict[str, Any]:
    """``text`` through the instance's bounded voice, as a live reply: one budget, sentence by
    sentence, audio counted and dropped (a live session sends it on)."""
    from visavis.components import build_tts
    from visavis.config import Settings
    from visavis.speech.speakable import Speakable, SpeechSkipped
    from visavis.speech.tts.base import split_sentences
    from visavis.speech.tts.bounded import BoundedVoice, ReplyBudget

    settings = Settings(_env_file=None, tts_threads=1)  # type: ignore[call-arg]
    voice = build_tts(settings)
    assert isinstance(voice, BoundedVoice)
    async for _ in voice.synthesize("Warm up."):
        pass
    loaded = returned_rss_mib()
    skipped: collections.Counter[str] = collections.Counter()
    fallbacks: collections.Counter[str] = collections.Counter()

    def on_skip(notice: SpeechSkipped) -> None:
        skipped[notice.reason.value] += 1

    def on_fallback(said: Speakable) -> None:
        fallbacks[str(said.voice)] += 1

    budget = ReplyBudget(voice.bounds)
    audio_s, started, cpu = 0.0, time.perf_counter(), time.process_time()
    for sentence in split_sentences(text, max_chars=voice.bounds.max_sentence_chars):
        if skipped["reply_too_long"]:
            break  # the reply's budget is spent (synthesize_reply admits each sentence)
        try:
            async for chunk in voice.synthesize_reply(
                sentence, sample_rate=24000, budget=budget, on_skip=on_skip,
                on_fallback=on_fallback,
            ):  # fmt: skip
                audio_s += chunk.duration
        except SpeechSkipped:
            pass  # counted by on_skip
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    await voice.aclose()
    return {
        "characters": len(text),
        "audio_s": round(audio_s, 1),
        "synthesis_wall_s": round(wall, 2),
        "synthesis_cpu_s": round(cpu, 2),
        "skipped": dict(skipped),
        "fallback_voices": dict(fallbacks),
        "bounds": {
            "max_sentence_chars": voice.bounds.max_sentence_chars,
            "max_sentence_s": voice.bounds.max_sentence_s,
            "max_reply_chars": voice.bounds.max_reply_chars,
            "max_reply_s": voice.bounds.max_reply_s,
        },
        "rss_after_voice_load_mib": loaded,
        "rss_peak_mib": peak_rss_mib(),
        "rss_after_mib": returned_rss_mib(),
    }


@measurement("speech_cjk_600")
async def speech_cjk_600() -> dict[str, Any]:
    return await speak_reply(CJK_600)


@measurement("speech_english_4000")
async def speech_english_4000() -> dict[str, Any]:
    return await speak_reply(ENGLISH_4000)


async def _app(**overrides: Any) -> Any:
    """An app on a fresh, migrated SQLite file of its own, and a tenant's key."""
    from visavis.app import create_app
    from visavis.config import Settings
    from visavis.db.engine import create_engine
    from visavis.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='visavis-abuse-')}/visavis.db"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        env="development",
        secret_key="abuse-bench-secret-key-long-enough-for-anything-0123",
        **overrides,
    )
    return create_app(settings)


async def _tenant_key(app: Any) -> str:
    from visavis.db.repositories.api_keys import ApiKeyRepository
    from visavis.db.repositories.tenants import TenantRepository
    from visavis.tenancy.keys import generate_key

    async with app.state.ctx.sessions() as session:
        tenant = await TenantRepository(session).create(name="bench")
        key = generate_key()
        await ApiKeyRepository(session).add(tenant_id=tenant.id, key=key)
        await session.commit()
        return key.plaintext


@measurement("failed_auth_400")
async def failed_auth_400() -> dict[str, Any]:
    import httpx

    app = await _app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            bad = {"Authorization": "Bearer vv_" + "x" * 40}
            started = time.perf_counter()
            statuses = collections.Counter(
                [(await http.get("/v1/conversations", headers=bad)).status_code for _ in range(400)]
            )
            wall = time.perf_counter() - started
    settings = app.state.ctx.settings
    return {
        "requests": 400,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "wall_s": round(wall, 2),
        "policy": {
            "failures_per_window": settings.auth_failures_per_window,
            "window_s": settings.auth_failure_window_s,
        },
    }


class _HungServer:
    """Accepts TCP connections and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.clients.append(client)
            self.connections += 1


@measurement("hung_redis_20")
async def hung_redis_20() -> dict[str, Any]:
    import httpx

    hung = _HungServer()
    app = await _app(redis_url=f"redis://127.0.0.1:{hung.port}/0")
    async with app.router.lifespan_context(app):
        key = await _tenant_key(app)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            times = []
            for _ in range(20):
                started = time.perf_counter()
                answer = await http.get(
                    "/v1/conversations", headers={"Authorization": f"Bearer {key}"}
                )
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.text
    hung.listener.close()
    settings = app.state.ctx.settings
    return {
        "requests": 20,
        "first_ms": round(times[0], 1),
        "rest_median_ms": round(sorted(times[1:])[len(times[1:]) // 2], 1),
        "rest_max_ms": round(max(times[1:]), 1),
        "redis_connections": hung.connections,
        "redis_timeout_s": settings.redis_timeout_s,
        "cooldown_s": settings.redis_cooldown_s,
    }


def run_child(name: str) -> dict[str, Any]:
    """``name`` measured in a fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", name],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(time.perf_counter() - started, 1)
    return result


def _with_live_measurements() -> None:
    from abuse_live import LIVE_MEASUREMENTS

    MEASUREMENTS.update(LIVE_MEASUREMENTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", help="comma-separated measurement names")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _with_live_measurements()
    if args.child:
        print(json.dumps(asyncio.run(MEASUREMENTS[args.child]())))
        return
    names = args.only.split(",") if args.only else list(MEASUREMENTS)
    unknown = [n for n in names if n not in MEASUREMENTS]
    if unknown:
        parser.error(f"unknown measurement(s): {', '.join(unknown)}")
    report = {name: run_child(name) for name in names}
    print(json.dumps({"measurements": report, "not_measured": NOT_MEASURED}, indent=2))


if __name__ == "__main__":
    main()
