"""Turn latency and audio continuity of live conversations, against a real server.

Starts ``visavis serve`` (embedded defaults: SQLite, local avatar, Piper voice, built-in
interviewer) in a temporary directory, then runs N clients over real WebSockets. Each client
plays the audio it receives in real time (a simulated player with a small jitter buffer,
reporting playback to the server like the browser does) and answers each question. Prints JSON:
time from ``user_text`` to the first audio frame of the reply (p50/p95), underruns (a frame that
arrives after the moment it should play), and the server's CPU use. Clients join 0.25 s
apart, then talk at the same time.

    python bench/turns.py --clients 1 --turns 6
    python bench/turns.py --clients 10 --turns 4
    python bench/turns.py --twin --turns 20   # the offline demo twin, bundled voice
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from served import ServedVisavis, served_visavis

HEADER_BYTES = 12
JITTER_BUFFER_S = 0.12
ARRIVAL_SPREAD_S = 0.25
ANSWERS = [
    "I am a backend engineer and I have spent five years building Python services and data "
    "pipelines on Kafka and PostgreSQL for a logistics company.",
    "I rebuilt our order routing service as a queue-driven worker pool with a cache, which cut "
    "the latency from seconds to about eighty milliseconds.",
    "I write tests first for the tricky parts, keep functions small, and ask for reviews from "
    "people who know the area better than I do.",
    "A deployment once broke checkout; I found it in the logs, rolled back, and added a canary "
    "stage and an alert so it could not happen silently again.",
    "We disagreed about a migration, so we wrote down the trade-offs, measured both options, and "
    "chose the one with the safer rollback.",
    "I am looking for a team that owns its services end to end, and I would like to know how "
    "on-call is shared.",
]


#: Questions the demo twin (Maya Okafor) answers from its memory.
TWIN_QUESTIONS = [
    "Where were you born?",
    "Where did you grow up?",
    "What did you study at university?",
    "Where do you live?",
    "What do you do for a living?",
    "What is your favourite food?",
    "Which languages do you speak?",
    "Do you play an instrument?",
]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class Player:
    """Plays the audio it receives back to back in real time, as a browser would."""

    sample_rate: int
    playhead: float = 0.0  # monotonic time at which the queued audio runs out
    new_turn: bool = True
    underruns: int = 0
    frames: int = 0
    audio_s: float = 0.0
    starts: dict[int, float] = field(default_factory=dict)
    lengths: dict[int, float] = field(default_factory=dict)

    def frame(self, utterance_id: int, now: float, samples: int) -> None:
        if self.new_turn:
            self.playhead = now + JITTER_BUFFER_S  # a reply starts after the jitter buffer
            self.new_turn = False
        elif self.playhead < now:
            self.underruns += 1  # the speech ran dry before this frame arrived
            self.playhead = now
        if utterance_id not in self.starts:
            self.starts[utterance_id] = self.playhead
            self.lengths[utterance_id] = 0.0
        duration = samples / self.sample_rate
        self.playhead += duration
        self.lengths[utterance_id] += duration
        self.frames += 1
        self.audio_s += duration


@dataclass
class ClientStats:
    """What one simulated user saw over its conversations."""

    latencies_s: list[float] = field(default_factory=list)
    server_first_audio_ms: list[int] = field(default_factory=list)
    underruns: int = 0
    audio_s: float = 0.0
    frames: int = 0


async def run_client(base_url: str, turns: int, index: int, twin: str | None = None) -> ClientStats:
    """Answer ``turns`` questions (or ask the twin), over as many conversations as it takes."""
    # People arrive over a couple of seconds, not in the same millisecond.
    await asyncio.sleep(ARRIVAL_SPREAD_S * index)
    stats = ClientStats()
    while len(stats.latencies_s) < turns:
        await converse(base_url, turns - len(stats.latencies_s), index, stats, twin)
    return stats


async def converse(
    base_url: str, turns: int, index: int, stats: ClientStats, twin: str | None = None
) -> None:
    """One interview: listen to the greeting, then answer until ``turns`` or its close (with
    ``twin``: ask the twin questions)."""
    body: dict[str, Any] = {"avatar": True}
    if twin is not None:
        body |= {"agent": "twin", "twin": twin}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        created = (await http.post("/v1/local/conversations", json=body)).json()
    conversation_id, token = created["conversation"]["id"], created["token"]
    url = base_url.replace("http://", "ws://") + f"/v1/conversations/{conversation_id}/ws"
    player = Player(sample_rate=24000)
    answers = iter((TWIN_QUESTIONS if twin else ANSWERS) * 10)
    asked = 0
    sent_at: float | None = None
    first_frame_seen = False
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "protocol": 1}))
        reporter = asyncio.create_task(report_playback(ws, player))
        try:
            async for raw in ws:
                now = time.monotonic()
                if isinstance(raw, bytes):
                    if not first_frame_seen and sent_at is not None:
                        stats.latencies_s.append(now - sent_at)
                        first_frame_seen = True
                    uid = int.from_bytes(raw[4:8], "big")
                    player.frame(uid, now, (len(raw) - HEADER_BYTES) // 2)
                    continue
                message = json.loads(raw)
                kind = message["type"]
                if kind == "ready":
                    player.sample_rate = message["audio"]["sample_rate"]
                elif kind == "metrics" and sent_at is not None:
                    stats.server_first_audio_ms.append(message["first_audio_ms"])
                elif kind == "end" or (kind == "state" and message["state"] == "listening"):
                    if kind == "end" or asked >= turns:
                        break
                    asked += 1
                    await asyncio.sleep(0.3 + 0.1 * (index % 5))  # the user thinks a moment
                    first_frame_seen = False
                    player.new_turn = True
                    sent_at = time.monotonic()
                    await ws.send(json.dumps({"type": "user_text", "text": next(answers)}))
        except websockets.ConnectionClosed:
            pass  # the interviewer closed the conversation
        finally:
            reporter.cancel()
    stats.underruns += player.underruns
    stats.audio_s += player.audio_s
    stats.frames += player.frames


async def report_playback(ws: Any, player: Player) -> None:
    """Tell the server how far each utterance has played, as the browser does."""
    while True:
        await asyncio.sleep(0.25)
        now = time.monotonic()
        for uid, start in list(player.starts.items()):
            if start > now:
                continue
            end = start + player.lengths[uid]
            done = now >= end
            position = int((min(now, end) - start) * 1000)
            message = {"type": "playback", "utterance_id": uid, "position_ms": position}
            await ws.send(json.dumps(message | {"ended": done}))
            if done:
                del player.starts[uid]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def bench(
    clients: int, turns: int, base_url: str, pid: int, twin: str | None = None
) -> dict[str, Any]:
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    results = await asyncio.gather(*(run_client(base_url, turns, i, twin) for i in range(clients)))
    wall = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu_before
    latencies = [x * 1000 for r in results for x in r.latencies_s]
    return {
        "agent": "twin (offline, demo)" if twin else "interviewer",
        "clients": clients,
        "turns_per_client": turns,
        "turns_measured": len(latencies),
        "first_audio_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "max": round(max(latencies), 1),
        },
        "server_first_audio_ms_p50": statistics.median(
            [x for r in results for x in r.server_first_audio_ms]
        ),
        "underruns": sum(r.underruns for r in results),
        "sessions_without_underrun": sum(1 for r in results if r.underruns == 0),
        "audio_seconds": round(sum(r.audio_s for r in results), 1),
        "wall_seconds": round(wall, 1),
        "server_cpu_seconds": round(cpu, 1),
        "server_cpu_cores_used": round(cpu / wall, 2),
    }


def demo_twin(server: ServedVisavis) -> str:
    """The id of the demo twin the development server seeded (``visavis twins demo``)."""
    done = subprocess.run(
        [sys.executable, "-m", "visavis", "twins", "demo"],
        cwd=server.workdir,
        env=dict(server.env or {}),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--warmup-turns", type=int, default=1)
    parser.add_argument(
        "--twin", action="store_true", help="ask the offline demo twin (bundled voice)"
    )
    args = parser.parse_args()
    tts_env = {k: v for k, v in os.environ.items() if k.startswith("VISAVIS_TTS_")}
    with served_visavis(tts_env) as server:
        twin = demo_twin(server) if args.twin else None
        # Warm the voice and the code paths once, then measure.
        asyncio.run(bench(1, args.warmup_turns, server.base_url, server.pid, twin))
        result = asyncio.run(bench(args.clients, args.turns, server.base_url, server.pid, twin))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
