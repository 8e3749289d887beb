"""What scraping ``/metrics`` every second costs live conversations. Prints JSON.

One ``visavis serve`` (embedded defaults, an admin key set); rounds of the turn benchmark
(``bench/turns.py``) alternate between no scraper and a scraper that GETs ``/metrics`` every
second, so drift in the machine's load falls on both alike. Reports the first-audio p50 of each,
their difference in percent, and the scrape's own duration and size.

    python bench/metrics_overhead.py [--clients 4 --turns 3 --rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import served_visavis  # noqa: E402
from turns import bench  # noqa: E402


async def _scraper(base_url: str, key: str, durations: list[float], sizes: list[int]) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            started = time.perf_counter()
            response = await http.get(
                f"{base_url}/metrics", headers={"Authorization": f"Bearer {key}"}
            )
            durations.append((time.perf_counter() - started) * 1000)
            sizes.append(len(response.content))
            response.raise_for_status()
            await asyncio.sleep(1.0)


async def _round(
    base_url: str,
    pid: int,
    *,
    clients: int,
    turns: int,
    scrape: bool,
    key: str,
    durations: list[float],
    sizes: list[int],
) -> float:
    task = asyncio.create_task(_scraper(base_url, key, durations, sizes)) if scrape else None
    try:
        result = await bench(clients, turns, base_url, pid)
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return float(result["first_audio_ms"]["p50"])


async def run(args: argparse.Namespace, base_url: str, pid: int, key: str) -> dict[str, Any]:
    await bench(1, 1, base_url, pid)  # warm the voice and the code paths
    plain: list[float] = []
    scraped: list[float] = []
    durations: list[float] = []
    sizes: list[int] = []
    for _ in range(args.rounds):
        for scrape, into in ((False, plain), (True, scraped)):
            into.append(
                await _round(
                    base_url,
                    pid,
                    clients=args.clients,
                    turns=args.turns,
                    scrape=scrape,
                    key=key,
                    durations=durations,
                    sizes=sizes,
                )
            )
    without, with_scrape = statistics.median(plain), statistics.median(scraped)
    return {
        "benchmark": "metrics_overhead",
        "clients": args.clients,
        "turns_per_client": args.turns,
        "rounds": args.rounds,
        "first_audio_ms_p50_without_scrape": round(without, 1),
        "first_audio_ms_p50_with_scrape_every_1s": round(with_scrape, 1),
        "overhead_percent": round((with_scrape - without) / without * 100, 1),
        "rounds_p50_without": plain,
        "rounds_p50_with": scraped,
        "scrape_ms_p50": round(statistics.median(durations), 2) if durations else None,
        "scrape_bytes": sizes[-1] if sizes else None,
        "scrapes": len(durations),
        "load_average_1m": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    key = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if k.startswith("VISAVIS_TTS_")}
    with served_visavis(env | {"VISAVIS_ADMIN_API_KEY": key}) as server:
        result = asyncio.run(run(args, server.base_url, server.pid, key))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
