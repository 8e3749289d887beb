"""What scraping ``/metrics`` every second costs live conversations. Prints JSON.

One ``visavis serve`` (embedded defaults, an admin key set) and many short rounds of the turn
benchmark's clients (``bench/turns.py``), half of them with a scraper that GETs ``/metrics``
every second. The rounds come in pairs whose order alternates (AB BA AB ...), so a drift in the
machine's load falls on both arms alike. Two figures, each as a ratio of scraped to unscraped
with a 95 % bootstrap confidence interval (the round pairs resampled, so the interval carries
the machine's noise between rounds):

- turn latency: the median time from ``user_text`` to the reply's first audio frame;
- server CPU per turn: the server process's user + system CPU time over the round divided by
  the turns in it, scrapes included. Process CPU does not wait behind other processes on a
  busy machine, so it is far less noisy than wall time.

And a third, the least noisy: the server CPU one scrape costs (200 scrapes back to back, less
the idle server's CPU over the same time), as a share of the CPU the server spends per second
serving the unscraped rounds: what one scrape a second adds to the server's work.

    python bench/metrics_overhead.py [--pairs 12 --clients 4 --turns 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import served_visavis  # noqa: E402
from turns import cpu_seconds, run_client  # noqa: E402

BOOTSTRAP_SAMPLES = 4000
#: The overhead the issue allows, in percent.
BUDGET_PERCENT = 2.0


@dataclass
class Round:
    """One round of clients, with or without the scraper."""

    scraped: bool
    latencies_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0

    @property
    def turns(self) -> int:
        return len(self.latencies_ms)


@dataclass
class Scrapes:
    durations_ms: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


async def _scraper(base_url: str, key: str, scrapes: Scrapes) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            started = time.perf_counter()
            response = await http.get(
                f"{base_url}/metrics", headers={"Authorization": f"Bearer {key}"}
            )
            scrapes.durations_ms.append((time.perf_counter() - started) * 1000)
            scrapes.sizes.append(len(response.content))
            response.raise_for_status()
            await asyncio.sleep(1.0)


async def _round(
    base_url: str, pid: int, *, clients: int, turns: int, scrape: bool, key: str, s: Scrapes
) -> Round:
    task = asyncio.create_task(_scraper(base_url, key, s)) if scrape else None
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    try:
        results = await asyncio.gather(*(run_client(base_url, turns, i) for i in range(clients)))
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    latencies = [x * 1000 for r in results for x in r.latencies_s]
    return Round(scrape, latencies, cpu_seconds(pid) - cpu_before, time.monotonic() - started)


async def _scrape_cpu_s(base_url: str, pid: int, key: str, scrapes: int = 200) -> float:
    """Server CPU seconds one scrape costs, the idle server's own CPU subtracted."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=5) as http:
        cpu_before, started = cpu_seconds(pid), time.monotonic()
        for _ in range(scrapes):
            (await http.get(f"{base_url}/metrics", headers=headers)).raise_for_status()
        busy, wall = cpu_seconds(pid) - cpu_before, time.monotonic() - started
    idle_before = cpu_seconds(pid)
    await asyncio.sleep(wall)
    idle = cpu_seconds(pid) - idle_before
    return max(0.0, busy - idle) / scrapes


def _latency_ratio(pairs: list[tuple[Round, Round]]) -> float:
    plain = [x for a, _ in pairs for x in a.latencies_ms]
    scraped = [x for _, b in pairs for x in b.latencies_ms]
    return statistics.median(scraped) / statistics.median(plain)


def _cpu_ratio(pairs: list[tuple[Round, Round]]) -> float:
    plain = sum(a.cpu_s for a, _ in pairs) / sum(a.turns for a, _ in pairs)
    scraped = sum(b.cpu_s for _, b in pairs) / sum(b.turns for _, b in pairs)
    return scraped / plain


def _figure(pairs: list[tuple[Round, Round]], ratio: Any, rng: random.Random) -> dict[str, Any]:
    """The ratio in percent over 1, and its 95 % interval from resampled round pairs."""
    point = ratio(pairs)
    samples = sorted(ratio([rng.choice(pairs) for _ in pairs]) for _ in range(BOOTSTRAP_SAMPLES))
    low = samples[int(0.025 * len(samples))]
    high = samples[int(0.975 * len(samples)) - 1]
    return {
        "overhead_percent": round((point - 1) * 100, 2),
        "ci95_percent": [round((low - 1) * 100, 2), round((high - 1) * 100, 2)],
        "within_budget": (low - 1) * 100 >= -BUDGET_PERCENT and (high - 1) * 100 <= BUDGET_PERCENT,
    }


async def run(args: argparse.Namespace, base_url: str, pid: int, key: str) -> dict[str, Any]:
    scrapes = Scrapes()
    for scrape in (False, True):
        # Warm the voice, its cache of the interviewer's lines, the code and the metrics page:
        # the measured rounds then all do the same work.
        await _round(
            base_url, pid, clients=args.clients, turns=args.turns, scrape=scrape, key=key, s=scrapes
        )
    scrapes = Scrapes()
    pairs: list[tuple[Round, Round]] = []
    started = time.monotonic()
    for index in range(args.pairs):
        order = (False, True) if index % 2 == 0 else (True, False)
        done = {}
        for scrape in order:
            done[scrape] = await _round(
                base_url,
                pid,
                clients=args.clients,
                turns=args.turns,
                scrape=scrape,
                key=key,
                s=scrapes,
            )
        pairs.append((done[False], done[True]))
    scrape_cpu_s = await _scrape_cpu_s(base_url, pid, key)
    plain_cpu_per_s = sum(a.cpu_s for a, _ in pairs) / sum(a.wall_s for a, _ in pairs)
    rng = random.Random(args.seed)
    plain = [x for a, _ in pairs for x in a.latencies_ms]
    scraped = [x for _, b in pairs for x in b.latencies_ms]
    cpu_plain = sum(a.cpu_s for a, _ in pairs) / len(plain)
    cpu_scraped = sum(b.cpu_s for _, b in pairs) / len(scraped)
    return {
        "benchmark": "metrics_overhead",
        "clients": args.clients,
        "turns_per_client": args.turns,
        "round_pairs": args.pairs,
        "turns_measured": {"without_scrape": len(plain), "with_scrape": len(scraped)},
        "first_audio_ms_p50": {
            "without_scrape": round(statistics.median(plain), 1),
            "with_scrape_every_1s": round(statistics.median(scraped), 1),
        },
        "turn_latency_p50": _figure(pairs, _latency_ratio, rng),
        "server_cpu_ms_per_turn": {
            "without_scrape": round(cpu_plain * 1000, 2),
            "with_scrape_every_1s": round(cpu_scraped * 1000, 2),
        },
        "server_cpu_per_turn": _figure(pairs, _cpu_ratio, rng),
        "scrape_server_cpu_ms": round(scrape_cpu_s * 1000, 2),
        "server_cpu_ms_per_s_without_scrape": round(plain_cpu_per_s * 1000, 1),
        "scrape_every_1s_cpu_share_percent": round(scrape_cpu_s / plain_cpu_per_s * 100, 2),
        "budget_percent": BUDGET_PERCENT,
        "scrape_ms_p50": round(statistics.median(scrapes.durations_ms), 2)
        if scrapes.durations_ms
        else None,
        "scrape_bytes": scrapes.sizes[-1] if scrapes.sizes else None,
        "scrapes": len(scrapes.durations_ms),
        "wall_seconds": round(time.monotonic() - started, 1),
        "load_average_1m": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=12, help="AB round pairs (order alternates)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--turns", type=int, default=2, help="turns per client per round")
    parser.add_argument("--seed", type=int, default=1, help="of the bootstrap resampling")
    args = parser.parse_args()
    key = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if k.startswith("VISAVIS_TTS_")}
    with served_visavis(env | {"VISAVIS_ADMIN_API_KEY": key}) as server:
        result = asyncio.run(run(args, server.base_url, server.pid, key))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
