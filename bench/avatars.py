"""Overhead of every avatar provider's client, against zero-latency fakes in their own processes.

- start: ``create_session`` + ``start`` (LiveAvatar: token, start, the LITE socket up to
  ``connected``; Akool: create + one detail poll; Simli: token, socket, ``START``; Tavus:
  create);
- chunk: one piece of speech handed to the provider: for audio-driven faces (LiveAvatar LITE,
  Simli) one chunk of our voice's audio (22.05 kHz, resampled, encoded and sent); for
  text-driven ones (LiveAvatar FULL, Akool, Tavus) one sentence built into its data-channel
  message(s) and handed to the browser relay.

- late_join (LiveAvatar LITE, its socket ``connected`` only after 3.5 s, through a whole
  conversation in process on real time): ``ready_to_joined`` is the time from the provider's
  session being up to the conversation switching to the face (the ``avatar`` message);
  ``ready_to_first_audio`` from then to the face's first audio when the person speaks as it
  joins (includes the agent's first sentence and our voice's synthesis of it);
  ``face_chunk`` the wall/CPU time of each audio slice through the audio-driven output
  (``FaceOutput`` → ``AvatarLink`` → provider → socket).

Wall time includes the fakes' own work and loopback; ``cpu`` is the CPU time of this process
alone, i.e. our client's share. Prints JSON (milliseconds: p50/p95/max).

    python bench/avatars.py [--runs 100] [--join-runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from visavis.avatars.akool.api import AkoolAPI
from visavis.avatars.akool.provider import AkoolOptions, AkoolProvider
from visavis.avatars.base import AvatarProvider, ProviderSession, SessionRequest, audio_driven
from visavis.avatars.liveavatar.api import LiveAvatarAPI
from visavis.avatars.liveavatar.provider import LiveAvatarOptions, LiveAvatarProvider
from visavis.avatars.simli.api import SimliAPI
from visavis.avatars.simli.provider import SimliProvider
from visavis.avatars.tavus.api import TavusAPI
from visavis.avatars.tavus.provider import TavusOptions, TavusProvider
from visavis.testing import ConversationKit, FakeTTS, ScriptedAgent

SENTENCE = "That is a really interesting project, thank you for walking me through it."
VOICE_RATE = 22050  # Piper's native rate: the audio path resamples it
FAKES = {
    "liveavatar": ("tests.fakes.liveavatar", {"connect_delay_s": 0.0, "playback_rate": 0.0}),
    "akool": ("tests.fakes.akool", {"polls_to_ready": 0}),
    "simli": ("tests.fakes.simli", {"start_delay_s": 0.0, "playback_rate": 0.0}),
    "tavus": ("tests.fakes.tavus", {}),
    "liveavatar-slow": ("tests.fakes.liveavatar", {"connect_delay_s": 3.5}),
}
LATE_REPLY = "Thanks for waiting. Tell me about the last system you built, and what you learned."


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


def builders(urls: dict[str, str]) -> dict[str, tuple[Callable[[], AvatarProvider], str | None]]:
    """Each provider under test: how to build it, and the avatar it asks for."""
    return {
        "liveavatar-lite": (
            lambda: LiveAvatarProvider(
                LiveAvatarAPI(api_key="test-liveavatar-key", base_url=urls["liveavatar"])
            ),
            "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01",
        ),
        "liveavatar-full": (
            lambda: LiveAvatarProvider(
                LiveAvatarAPI(api_key="test-liveavatar-key", base_url=urls["liveavatar"]),
                LiveAvatarOptions(mode="FULL", context_id="bench"),
            ),
            "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01",
        ),
        "akool": (
            lambda: AkoolProvider(
                AkoolAPI(api_key="test-akool-key", base_url=urls["akool"]),
                AkoolOptions(poll_interval_s=0.0),
            ),
            "dvp_Tristan_cloth2_1080P",
        ),
        "simli": (
            lambda: SimliProvider(SimliAPI(api_key="test-simli-key", base_url=urls["simli"])),
            "tmp9i8bbq7c",
        ),
        "tavus": (
            lambda: TavusProvider(
                TavusAPI(api_key="test-tavus-key", base_url=urls["tavus"]),
                TavusOptions(pal_id="p-echo-fake"),
            ),
            None,
        ),
    }


def summary(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in samples_s)
    return {
        "p50": round(statistics.median(ms), 3),
        "p95": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 3),
        "max": round(ms[-1], 3),
    }


async def timed(call: Callable[[], Awaitable[Any]], wall: list[float], cpu: list[float]) -> Any:
    began, began_cpu = time.perf_counter(), time.process_time()
    result = await call()
    wall.append(time.perf_counter() - began)
    cpu.append(time.process_time() - began_cpu)
    return result


async def bench_provider(
    provider: AvatarProvider, avatar_id: str | None, runs: int
) -> dict[str, Any]:
    request = SessionRequest(avatar_id=avatar_id)
    wall: list[float] = []
    cpu: list[float] = []

    async def start() -> ProviderSession:
        session = await provider.create_session(request)
        await provider.start(session)
        return session

    kept: ProviderSession | None = None
    for run in range(runs):
        session = await timed(start, wall, cpu)
        if run == 0:
            kept = session
        else:
            await provider.stop(session.session_id)
    assert kept is not None
    result: dict[str, Any] = {"start_wall_ms": summary(wall), "start_cpu_ms": summary(cpu)}

    relayed: list[str] = []

    async def relay(message: str) -> None:
        relayed.append(message)

    chunk_wall: list[float] = []
    chunk_cpu: list[float] = []
    driven = audio_driven(provider)
    if driven is not None:
        chunk_s = driven.chunking.chunk_ms / 1000  # type: ignore[attr-defined]
        t = np.arange(round(VOICE_RATE * chunk_s * 1.05)) / VOICE_RATE
        pcm = (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()
        await driven.begin_utterance(kept)
        await driven.push_audio(kept, pcm, VOICE_RATE)  # the first, shorter chunk
        for _ in range(runs):
            await timed(lambda: driven.push_audio(kept, pcm, VOICE_RATE), chunk_wall, chunk_cpu)
            # As a voice makes it, ten times faster than it plays (a burst of minutes of audio
            # would measure the fake's decoding through the socket's flow control instead).
            await asyncio.sleep(chunk_s / 10)
        await driven.end_utterance(kept)
        result["chunk"] = f"{chunk_s * 1000:g} ms of audio"
    else:
        for _ in range(runs):
            await timed(lambda: provider.speak(kept, SENTENCE, sink=relay), chunk_wall, chunk_cpu)
            if provider.limits.bytes_per_second is not None:
                await asyncio.sleep(0.2)  # stay within the data stream's bytes per second
        result["chunk"] = "one sentence"
    result["chunk_wall_ms"] = summary(chunk_wall)
    result["chunk_cpu_ms"] = summary(chunk_cpu)
    await provider.stop(kept.session_id)
    return result


async def bench(urls: dict[str, str], runs: int) -> dict[str, Any]:
    result: dict[str, Any] = {"runs": runs}
    for name, (build, avatar_id) in builders(urls).items():
        provider = build()
        try:
            result[name] = await bench_provider(provider, avatar_id, runs)
        finally:
            await provider.aclose()
    return result


async def late_join_once(url: str, chunks: tuple[list[float], list[float]]) -> dict[str, float]:
    """One conversation whose LiveAvatar LITE face joins late; the moments that matter."""
    loop = asyncio.get_running_loop()
    provider = LiveAvatarProvider(LiveAvatarAPI(api_key="test-liveavatar-key", base_url=url))
    stamps: dict[str, float] = {}
    started, pushed = provider.start, provider.push_audio

    async def start(session: ProviderSession) -> None:
        await started(session)
        stamps.setdefault("ready", loop.time())

    async def push_audio(session: ProviderSession, pcm: bytes, rate: int) -> None:
        await timed(lambda: pushed(session, pcm, rate), *chunks)
        stamps.setdefault("first_audio", loop.time())

    provider.start = start  # type: ignore[method-assign]
    provider.push_audio = push_audio  # type: ignore[method-assign]
    agent = ScriptedAgent([LATE_REPLY])
    try:
        async with ConversationKit(
            agent=agent, tts=FakeTTS(realtime_factor=50.0), avatar=provider
        ) as client:
            await client.wait_for("avatar", reason="timeout", timeout_s=10)
            await client.wait_for("avatar", status="ready", timeout_s=30)
            stamps["joined"] = loop.time()
            await client.send({"type": "user_text", "text": "Hello."})
            await client.wait_for("turn_end", turn_id=1, timeout_s=30)
    finally:
        await provider.aclose()
    return {
        "ready_to_joined": stamps["joined"] - stamps["ready"],
        "ready_to_first_audio": stamps["first_audio"] - stamps["ready"],
    }


async def bench_late_join(url: str, runs: int) -> dict[str, Any]:
    joined: list[float] = []
    first: list[float] = []
    chunks: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        moments = await late_join_once(url, chunks)
        joined.append(moments["ready_to_joined"])
        first.append(moments["ready_to_first_audio"])
    return {
        "runs": runs,
        "ready_to_joined_ms": summary(joined),
        "ready_to_first_audio_ms": summary(first),
        "face_chunk_wall_ms": summary(chunks[0]),
        "face_chunk_cpu_ms": summary(chunks[1]),
        "face_chunks": len(chunks[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--join-runs", type=int, default=5)
    args = parser.parse_args()
    started = {name: start_fake(module, knobs) for name, (module, knobs) in FAKES.items()}
    try:
        urls = {name: url for name, (_, url) in started.items()}
        result = asyncio.run(bench(urls, args.runs))
        if args.join_runs > 0:
            late = bench_late_join(urls["liveavatar-slow"], args.join_runs)
            result["late_join"] = asyncio.run(late)
        print(json.dumps(result, indent=2))
    finally:
        for proc, _ in started.values():
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
