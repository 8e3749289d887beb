"""Voice turns against a real server: latency, barge-in and echo, as a microphone would send.

Starts ``visavis serve`` (embedded defaults: SQLite, Piper voice, Whisper tiny.en, Silero, the
built-in interviewer), synthesizes the answers with the bundled Piper voice at 16 kHz, and runs
clients over real WebSockets. Each client's microphone sends a 20 ms frame every 20 ms for the
whole conversation (silence between answers, as a live microphone does); received audio is
played by a simulated player (as bench/turns.py, reporting playback like the browser).

- ``latency``: from the last speech sample sent to the first agent audio frame received, with
  the split from the server's own clock: endpoint wait (last voiced sample → end of turn
  decided), STT (→ the turn starts), agent (→ first delta), first audio (→ first frame); and
  ``end_of_turn_seen_ms``, from the last speech sample sent to the client's receipt of the end
  of turn (the server's last voiced sample is where its detector stops hearing speech, which
  trails the last loud sample);
- ``barge_in``: speech started 0.8 s into a reply; from its first voiced sample sent to the last
  agent frame received;
- ``echo``: the agent's audio, as played, mixed back into the microphone at ``--echo-db``
  (relative to the agent's level: the residue after the browser's echo cancellation) for the
  first 6 s of each reply while the client stays silent (then it interrupts, to keep the run
  short); a ``barge_in`` in that time is a false barge-in, a user turn started by it a false turn.

``wer`` scores the measured turns' transcripts with Whisper's English normalizer (as
``bench/stt.py``; needs ``pip install 'visavis[bench]'``), and ``misheard`` lists those with
more than two word errors.

Pacing: clients start ``--stagger`` seconds apart (0.25) and each answers ``--think`` seconds
after the agent's reply was sent (0.25). The defaults keep ten clients in step — the same
answers, the same replies, every turn ending within 2.5 s of the others': a burst, the worst
case for two cores. ``--stagger 1.4 --think 0.5,2.5`` (a pause drawn per answer) lets them
drift apart as independent conversations do.

``server`` gives the server's own totals over the run (``/metrics``): seconds spent in synthesis
and recognition calls and the seconds of audio they made or heard, and the underruns it
counted (a reply's next sentence sent after the listener ran out of audio).

``--llm fake`` answers with the OpenAI-compatible agent against the repository's fake model
server (first token at once, then one every 5 ms; a different reply every turn, so the synthesis
cache does not answer for the voice); ``--env KEY=VALUE`` sets server settings (e.g.
``VISAVIS_STT_PAUSE_MS=0`` for turns not prepared at the pause).

    python bench/voice_turns.py --clients 1 --turns 8 --barge-ins 8 --echo-turns 20
    python bench/voice_turns.py --clients 10 --turns 3 --barge-ins 0 --echo-turns 0
    python bench/voice_turns.py --clients 10 --turns 4 --barge-ins 0 --echo-turns 0 \
        --stagger 1.4 --think 0.5,2.5
    python bench/voice_turns.py --llm fake --turns 8 --barge-ins 0 --echo-turns 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import struct
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

from served import served_visavis
from turns import HEADER_BYTES, Player, cpu_seconds, percentile, report_playback
from wer import word_errors

RATE = 16000
FRAME = 320  # 20 ms
ANSWERS = [
    "I am a backend engineer and I build data pipelines in Python.",
    "I rebuilt our order service so it answers in under a hundred milliseconds.",
    "I write tests first for the tricky parts and ask for reviews.",
    "A deployment once broke checkout, so we added a canary stage.",
    "We measured both options and chose the one with the safer rollback.",
    "I would like to know how the team shares on-call duty.",
]
STOP = "Sorry, let me stop you there for a second."
#: Lets the bench read the server's /metrics (what synthesis and recognition cost).
ADMIN_KEY = "bench-admin-" + "k" * 32
ECHO_S = 6.0  # seconds of each reply played back into the microphone
VOICED = 500  # a sample louder than this is speech (Piper's leading silence is below)


def synthesize(texts: list[str]) -> list[np.ndarray]:
    from visavis.speech.tts.piper import PiperEngine

    engine = PiperEngine(first_chunk_words=None)
    return [
        np.concatenate([c.pcm for c in engine.synthesize_sentence(t, RATE)]).astype(np.int16)
        for t in texts
    ]


def voiced_bounds(pcm: np.ndarray) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > VOICED)
    return int(loud[0]), int(loud[-1])


def mic_frame(seq: int, pcm: np.ndarray) -> bytes:
    return struct.pack(">2sHI", b"M1", 0, seq & 0xFFFFFFFF) + pcm.astype("<i2").tobytes()


@dataclass
class Stats:
    latency_ms: list[float] = field(default_factory=list)
    split: dict[str, list[float]] = field(default_factory=dict)
    barge_ms: list[float] = field(default_factory=list)
    barge_missed: int = 0
    echo_turns: int = 0
    false_barge_ins: int = 0
    false_turns: int = 0
    underruns: int = 0
    prepared: int = 0
    misheard: list[str] = field(default_factory=list)
    word_errors: int = 0
    words: int = 0


@dataclass
class Pacing:
    """When one client speaks: its start after the run begins, and the silence before each
    answer once the agent's reply has been sent (drawn uniformly from ``think_s``)."""

    start_s: float
    think_s: tuple[float, float]
    rng: random.Random


class VoiceClient:
    """One conversation: a live microphone, a simulated player, and what it received."""

    def __init__(self, ws: Any, echo_gain: float, pacing: Pacing) -> None:
        self.ws = ws
        self.pacing = pacing
        self.player = Player(sample_rate=24000)
        self.echo_gain = echo_gain
        self.echo_on = False
        self.speech: list[np.ndarray] = []  # queued 20 ms pieces to say
        self.echo = np.zeros(0, np.int16)
        self.seq = 0
        self.sent_marks: dict[int, float] = {}  # sample index of the mic stream → time sent
        self.samples_sent = 0
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.frames: list[tuple[float, int]] = []  # (time, utterance id)
        self.turn_of_utterance: dict[int, int] = {}
        self.event = asyncio.Event()
        self.closed = False

    def lead_in(self) -> int:
        """Samples of silence before the person's next answer."""
        low, high = self.pacing.think_s
        return int(RATE * self.pacing.rng.uniform(low, high))

    def say(self, pcm: np.ndarray) -> int:
        """Queue speech; returns the mic-stream sample index where it starts."""
        start = self.samples_sent + sum(len(p) for p in self.speech)
        self.speech += [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]
        return start

    async def microphone(self) -> None:
        started = time.monotonic()
        while not self.closed:
            piece = self.speech.pop(0) if self.speech else np.zeros(FRAME, np.int16)
            if len(piece) < FRAME:
                piece = np.pad(piece, (0, FRAME - len(piece)))
            if self.echo_on and len(self.echo):
                echo, self.echo = self.echo[:FRAME], self.echo[FRAME:]
                mixed = piece.astype(np.int32)
                mixed[: len(echo)] += (echo * self.echo_gain).astype(np.int32)
                piece = np.clip(mixed, -32768, 32767).astype(np.int16)
            self.seq += 1
            await self.ws.send(mic_frame(self.seq, piece))
            now = time.monotonic()
            self.samples_sent += FRAME
            self.sent_marks[self.samples_sent] = now
            delay = started + self.seq * FRAME / RATE - time.monotonic()
            await asyncio.sleep(max(0.0, delay))

    async def receive(self) -> None:
        try:
            async for raw in self.ws:
                now = time.monotonic()
                if isinstance(raw, bytes):
                    uid = int.from_bytes(raw[4:8], "big")
                    pcm = np.frombuffer(raw[HEADER_BYTES:], "<i2")
                    self.player.frame(uid, now, len(pcm))
                    self.frames.append((now, uid))
                    if self.echo_on:  # what the speakers play comes back, resampled to 16 kHz
                        positions = np.arange(0, len(pcm), self.player.sample_rate / RATE)
                        heard = np.interp(positions, np.arange(len(pcm)), pcm).astype(np.int16)
                        self.echo = np.concatenate([self.echo, heard])
                else:
                    message = json.loads(raw)
                    self.messages.append((now, message))
                    if message["type"] == "ready":
                        self.player.sample_rate = message["audio"]["sample_rate"]
                    elif message["type"] == "sentence":
                        self.turn_of_utterance[message["utterance_id"]] = message["turn_id"]
                    elif message["type"] == "turn_end":
                        self.player.new_turn = True
                self.event.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.event.set()

    async def wait(self, predicate: Any, limit_s: float = 60.0) -> Any:
        deadline = time.monotonic() + limit_s
        while True:
            found = predicate()
            if found:
                return found
            if self.closed:
                raise ConnectionError("the conversation closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [
                    m["type"] + ":" + str(m.get("code") or m.get("event") or m.get("state") or "")
                    for _, m in self.messages[-25:]
                ]
                raise TimeoutError(f"nothing came; last messages: {seen}")
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), remaining)
            except TimeoutError:
                pass

    def message(
        self, kind: str, after: int = 0, **fields: Any
    ) -> tuple[float, dict[str, Any]] | None:
        for at, m in self.messages[after:]:
            if m["type"] == kind and all(m.get(k) == v for k, v in fields.items()):
                return at, m
        return None

    def first_frame_of_turn(self, turn_id: int) -> float | None:
        for at, uid in self.frames:
            if self.turn_of_utterance.get(uid) == turn_id:
                return at
        return None

    def sent_time(self, sample: int) -> float:
        """When the frame holding mic-stream sample ``sample`` was sent."""
        end = (sample // FRAME + 1) * FRAME
        return self.sent_marks[end]


async def open_conversation(base_url: str) -> tuple[Any, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        created = (await http.post("/v1/local/conversations", json={"avatar": True})).json()
    url = (
        base_url.replace("http://", "ws://")
        + f"/v1/conversations/{created['conversation']['id']}/ws"
    )
    ws = await websockets.connect(url, max_size=None)
    hello = {
        "type": "hello",
        "token": created["token"],
        "protocol": 1,
        "audio_in": {"format": "pcm_s16le", "sample_rate": RATE},
    }
    await ws.send(json.dumps(hello))
    return ws, created


async def session(
    base_url: str,
    plan: list[str],
    speech: dict[str, np.ndarray],
    stats: Stats,
    echo_gain: float,
    pacing: Pacing,
) -> list[str]:
    """One interview: do the steps of ``plan`` until it closes; returns the steps left."""
    ws, _ = await open_conversation(base_url)
    client = VoiceClient(ws, echo_gain, pacing)
    tasks = [
        asyncio.create_task(client.receive()),
        asyncio.create_task(client.microphone()),
        asyncio.create_task(report_playback(ws, client.player)),
    ]
    answers = iter(ANSWERS * 10)
    try:
        # The interviewer greets first; other agents wait for the person.
        greeted = lambda: client.message("turn_end", turn_id=1)  # noqa: E731
        await client.wait(lambda: greeted() or client.message("state", state="listening"), 90)
        while plan:
            step = plan[0]
            await run_step(client, step, stats, speech, answers)
            plan.pop(0)
            print(f"{step} done, {len(plan)} left", file=sys.stderr, flush=True)
    except ConnectionError:
        pass  # the interviewer closed the conversation: the plan goes on in a new one
    finally:
        client.closed = True
        stats.underruns += client.player.underruns
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ws.close()
    return plan


async def run_step(
    client: VoiceClient,
    step: str,
    stats: Stats,
    speech: dict[str, np.ndarray],
    answers: Iterator[str],
) -> None:
    """One step of the plan: a measured turn, a barge-in, or a reply with echo."""
    mark = len(client.messages)
    turn = max((m["turn_id"] for _, m in client.messages if m["type"] == "turn_end"), default=0)
    if step == "latency":
        text = next(answers)
        pcm = speech[text]
        lead_in = client.lead_in()
        start = client.say(np.concatenate([np.zeros(lead_in, np.int16), pcm]))
        last = start + lead_in + voiced_bounds(pcm)[1]
        first = await client.wait(lambda: client.first_frame_of_turn(turn + 1), 60)
        stats.latency_ms.append((first - client.sent_time(last)) * 1000)
        ended = client.message("voice", mark, event="speech_ended")
        if ended is not None:
            # The same end of turn seen from the client: it starts at the last loud sample,
            # where the server's endpoint wait starts at the detector's last voiced window.
            seen = (ended[0] - client.sent_time(last)) * 1000
            stats.split.setdefault("end_of_turn_seen_ms", []).append(seen)
        await client.wait(lambda: client.message("turn_end", mark, turn_id=turn + 1), 90)
        said = await client.wait(lambda: user_line(client, mark), 30)
        heard = said[1]["entry"]["text"]
        errors, words = word_errors(text, heard)
        stats.word_errors += errors
        stats.words += words
        if errors > 2:
            stats.misheard.append(heard)
        _add_split(client, stats, mark, turn + 1)
    elif step == "barge_in":
        # Answer, then speak over the reply 0.8 s after its first frame.
        text = next(answers)
        client.say(np.concatenate([np.zeros(client.lead_in(), np.int16), speech[text]]))
        await client.wait(lambda: client.first_frame_of_turn(turn + 1), 60)
        await asyncio.sleep(0.8)
        stop = speech[STOP]
        onset_sample = client.say(stop) + voiced_bounds(stop)[0]
        ended = await client.wait(lambda: client.message("turn_end", mark, turn_id=turn + 1), 60)
        if ended[1]["interrupted"]:
            frames = [
                at for at, uid in client.frames if client.turn_of_utterance.get(uid) == turn + 1
            ]
            stats.barge_ms.append((max(frames) - client.sent_time(onset_sample)) * 1000)
            await client.wait(lambda: client.message("turn_end", mark, turn_id=turn + 2), 90)
        else:
            stats.barge_missed += 1
    elif step == "echo":
        text = next(answers)
        client.say(np.concatenate([np.zeros(client.lead_in(), np.int16), speech[text]]))
        await client.wait(lambda: client.first_frame_of_turn(turn + 1), 60)
        client.echo_on = True
        # Up to ``ECHO_S`` of the reply plays back into the microphone; then the client stops it.
        ending = lambda: client.message("turn_end", mark, turn_id=turn + 1)  # noqa: E731
        try:
            await client.wait(ending, ECHO_S)
        except TimeoutError:
            await client.ws.send(json.dumps({"type": "interrupt"}))
        await client.wait(ending, 30)
        stats.echo_turns += 1
        stats.false_barge_ins += client.message("voice", mark, event="barge_in") is not None
        # The echo still playing after the reply must not start a turn of its own.
        await asyncio.sleep(len(client.echo) / RATE + 1.2)
        client.echo_on = False
        client.echo = np.zeros(0, np.int16)
        stats.false_turns += (
            sum(
                1
                for _, m in client.messages[mark:]
                if m["type"] == "transcript" and m["entry"]["role"] == "user"
            )
            - 1
        )


def user_line(client: VoiceClient, mark: int) -> tuple[float, dict[str, Any]] | None:
    """The person's line after ``mark``: lines are shown once stored, so the agent's line of
    the turn before may come first."""
    return next(
        (
            (at, m)
            for at, m in client.messages[mark:]
            if m["type"] == "transcript" and m["entry"]["role"] == "user"
        ),
        None,
    )


def _add_split(client: VoiceClient, stats: Stats, mark: int, turn_id: int) -> None:
    said = user_line(client, mark)
    ended = client.message("voice", mark, event="speech_ended")
    thinking = client.message("state", mark, state="thinking")
    metrics = client.message("metrics", mark, turn_id=turn_id)
    if not (said and ended and thinking):
        return
    entry = said[1]["entry"]
    speech_end = entry["actual_start_ms"] + entry["duration_ms"]
    parts = {
        "endpoint_wait_ms": ended[1]["at_ms"] - speech_end,
        "stt_ms": thinking[1]["at_ms"] - ended[1]["at_ms"],
    }
    if metrics and metrics[1]["first_delta_ms"] is not None:
        parts["agent_first_delta_ms"] = metrics[1]["first_delta_ms"]
        # 0: the answer was prepared at the pause and under way before the end of turn.
        stats.prepared += metrics[1]["first_delta_ms"] == 0
        parts["first_audio_after_delta_ms"] = (
            metrics[1]["first_audio_ms"] - metrics[1]["first_delta_ms"]
        )
    for key, value in parts.items():
        stats.split.setdefault(key, []).append(value)


async def run_client(
    base_url: str, plan: list[str], speech: dict[str, np.ndarray], echo_gain: float, pacing: Pacing
) -> Stats:
    await asyncio.sleep(pacing.start_s)
    stats = Stats()
    left = list(plan)
    for _ in range(20):
        if not left:
            break
        left = await session(base_url, left, speech, stats, echo_gain, pacing)
    return stats


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 0.95), 1),
        "n": len(values),
    }


async def bench(args: argparse.Namespace, base_url: str, pid: int) -> dict[str, Any]:
    texts = [*ANSWERS, STOP]
    speech = dict(zip(texts, synthesize(texts), strict=True))
    plan = ["latency"] * args.turns + ["barge_in"] * args.barge_ins + ["echo"] * args.echo_turns
    echo_gain = 10 ** (args.echo_db / 20)
    cpu_before = cpu_seconds(pid)
    totals_before = await server_totals(base_url)
    started = time.monotonic()
    think_s = tuple(float(x) for x in args.think.split(","))
    results = await asyncio.gather(
        *(
            run_client(
                base_url,
                plan,
                speech,
                echo_gain,
                Pacing(args.stagger * i, (think_s[0], think_s[-1]), random.Random(i)),
            )
            for i in range(args.clients)
        )
    )
    wall = time.monotonic() - started
    latencies = [x for r in results for x in r.latency_ms]
    split = {
        k: summary([x for r in results for x in r.split.get(k, [])])
        for k in (
            "endpoint_wait_ms",
            "end_of_turn_seen_ms",
            "stt_ms",
            "agent_first_delta_ms",
            "first_audio_after_delta_ms",
        )
    }
    return {
        "clients": args.clients,
        "stagger_s": args.stagger,
        "think_s": args.think,
        "voice_turn_ms": summary(latencies),
        "split": split,
        "turns_prepared_at_the_pause": sum(r.prepared for r in results),
        "underruns": sum(r.underruns for r in results),
        "wer": round(
            sum(r.word_errors for r in results) / max(1, sum(r.words for r in results)), 4
        ),
        "misheard": [m for r in results for m in r.misheard],
        "barge_in_ms": summary([x for r in results for x in r.barge_ms]),
        "barge_in_missed": sum(r.barge_missed for r in results),
        "echo": {
            "level_db": args.echo_db,
            "turns": sum(r.echo_turns for r in results),
            "false_barge_ins": sum(r.false_barge_ins for r in results),
            "false_turns": sum(r.false_turns for r in results),
        },
        "server_cpu_s": round(cpu_seconds(pid) - cpu_before, 1),
        # Seconds spent in synthesis and recognition calls (wall time, waits for a core
        # included) against the seconds of audio they made or heard; the server's own count
        # of replies whose next sentence came after the listener ran out of audio.
        "server": {
            name: round(value - totals_before.get(name, 0.0), 1)
            for name, value in (await server_totals(base_url)).items()
        },
        "wall_s": round(wall, 1),
    }


#: The server's own totals (its /metrics) the bench reports, by the metric's name.
SERVER_TOTALS = {
    "tts_compute_s": "visavis_tts_compute_seconds_total",
    "tts_audio_s": "visavis_tts_audio_seconds_total",
    "stt_compute_s": "visavis_stt_compute_seconds_total",
    "stt_audio_s": "visavis_stt_audio_seconds_total",
    "underruns": "visavis_audio_underruns_total",
}


async def server_totals(base_url: str) -> dict[str, float]:
    """The server's synthesis, recognition and underrun totals so far, from its /metrics."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:
        scrape = await http.get("/metrics")
    scrape.raise_for_status()
    totals = dict.fromkeys(SERVER_TOTALS, 0.0)
    for line in scrape.text.splitlines():
        for name, metric in SERVER_TOTALS.items():
            if line.startswith((f"{metric}{{", f"{metric} ")):
                totals[name] += float(line.split()[-1])
                if name == "stt_audio_s" and 'engine="' in line:  # which model heard what
                    engine = line.split('engine="')[1].split('"')[0]
                    totals[f"stt_audio_s {engine}"] = float(line.split()[-1])
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--barge-ins", type=int, default=8)
    parser.add_argument("--echo-turns", type=int, default=20)
    parser.add_argument(
        "--echo-db",
        type=float,
        default=-30.0,
        help="echo level relative to the agent's audio (after echo cancellation)",
    )
    parser.add_argument(
        "--stagger", type=float, default=0.25, help="seconds between two clients' starts"
    )
    parser.add_argument(
        "--think",
        default="0.25",
        metavar="S[,MAX]",
        help="silence before each answer, seconds (a range: drawn uniformly per answer)",
    )
    parser.add_argument("--llm", choices=["builtin", "fake"], default="builtin")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    env = {"VISAVIS_ADMIN_API_KEY": ADMIN_KEY} | dict(item.split("=", 1) for item in args.env)
    with ExitStack() as stack:
        if args.llm == "fake":
            env |= fake_model(stack)
        served = stack.enter_context(served_visavis(env))
        result = asyncio.run(bench(args, served.base_url, served.pid))
    shown = {k: v for k, v in env.items() if k != "VISAVIS_ADMIN_API_KEY"}
    print(json.dumps({"llm": args.llm, "env": shown, **result}, indent=2))


def fake_model(stack: ExitStack) -> dict[str, str]:
    """The repository's fake OpenAI-compatible server, as the conversations' agent."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fakes.openai_compatible import FakeOpenAI

    replies = [
        f"Thank you, that helps with point {n}. What was the hardest part of it for you?"
        for n in range(1, 400)
    ]
    fake = FakeOpenAI(replies=replies, token_delay_s=0.005, first_token_delay_s=0.0)
    base_url = stack.enter_context(fake.serve())
    return {
        "VISAVIS_DEFAULT_AGENT": "openai",
        "VISAVIS_OPENAI_BASE_URL": base_url,
        "VISAVIS_OPENAI_API_KEY": "bench",
        "VISAVIS_OPENAI_MODEL": "fake-model",
    }


if __name__ == "__main__":
    main()
