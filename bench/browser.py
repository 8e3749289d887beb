"""The browser client in headless Chromium against a real server: reply latency, face frame
rate and lip-sync accuracy, read from the page's ``window.visavis`` debug API.

Starts ``visavis serve`` (embedded defaults: SQLite, local avatar, Piper voice, built-in
interviewer) in a temporary directory, opens the built-in page in Debian's Chromium (never a
downloaded browser) and answers the interviewer N times. Prints JSON:

- ``first_audio_ms``: from the send click to when the reply's first sample plays (its Web
  Audio start time, output latency included), p50/p95/max over the measured turns;
- ``face_fps_speaking``: frames per second of the face while speech is heard
  (requestAnimationFrame timestamps), over the whole run and for the slowest turn;
- ``mouth_sync_ms``: |time the first frame showing a new mouth shape is displayed − time its
  cue's sound plays|, both on the AudioContext clock: median, p95, max.

    python bench/browser.py                 # 20 turns, desktop viewport
    python bench/browser.py --turns 5 --viewport 390x844
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from playwright.sync_api import Page, sync_playwright

from served import served_visavis

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ANSWERS = [
    "I am a backend engineer and I have spent five years building Python services and data "
    "pipelines for a logistics company.",
    "I rebuilt our order routing service as a queue-driven worker pool, which cut the latency "
    "from seconds to about eighty milliseconds.",
    "I write tests first for the tricky parts, keep functions small, and ask for reviews from "
    "people who know the area better than I do.",
    "A deployment once broke checkout; I found it in the logs, rolled back, and added a canary "
    "stage so it could not happen silently again.",
    "We disagreed about a migration, so we wrote down the trade-offs, measured both options, and "
    "chose the one with the safer rollback.",
    "I am looking for a team that owns its services end to end.",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def state(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("() => window.visavis.state()")
    return result


def wait_for(page: Page, condition: str, timeout_s: float = 60) -> None:
    predicate = f"const s = window.visavis?.state(); return s && ({condition});"
    page.wait_for_function(f"() => {{ {predicate} }}", timeout=timeout_s * 1000)


def open_interview(page: Page, base_url: str) -> None:
    """A new interview; its greeting is cut short (it is not what is measured)."""
    page.goto(base_url + "/")
    wait_for(page, "s.conversationState === 'speaking' && window.visavis.audio().busy")
    page.keyboard.press("Escape")
    wait_for(page, "s.conversationState === 'listening'")


def one_turn(page: Page, answer: str, speak_s: float) -> dict[str, Any] | None:
    """Send an answer, hear ``speak_s`` of the reply (or all of it), then interrupt it."""
    before = len(page.evaluate("() => window.visavis.turns()"))
    page.fill("[data-testid=chat-input]", answer)
    page.click("[data-testid=send]")
    wait_for(page, f"window.visavis.turns().length > {before} || s.ended", 30)
    if state(page)["ended"]:
        return None
    turn: dict[str, Any] = page.evaluate("() => window.visavis.turns().at(-1)")
    page.evaluate("() => window.visavis.clear()")  # frames and mouth changes of this reply only
    deadline = time.monotonic() + speak_s
    while time.monotonic() < deadline and state(page)["conversationState"] == "speaking":
        page.wait_for_timeout(100)
    turn["fps"] = page.evaluate("() => window.visavis.fps()")
    turn["mouth_errors_ms"] = [
        abs(c["errorMs"]) for c in page.evaluate("() => window.visavis.mouthChanges()")
    ]
    if state(page)["conversationState"] == "speaking":
        page.keyboard.press("Escape")
    wait_for(page, "s.conversationState === 'listening' || s.ended", 30)
    turn["metrics"] = page.evaluate(
        "(id) => window.visavis.metrics().find((m) => m.turn_id === id) || null", turn["turnId"]
    )
    page.evaluate("() => window.visavis.clear()")
    return turn


def run(base_url: str, turns: int, warmup: int, speak_s: float, viewport: str) -> dict[str, Any]:
    width, height = (int(x) for x in viewport.split("x"))
    load_before = os.getloadavg()[0]
    measured: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        page = browser.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        open_interview(page, base_url)
        answers = iter(ANSWERS * (turns + warmup))
        done = 0
        underruns = 0
        while done < turns + warmup:
            turn = one_turn(page, next(answers), speak_s)
            if turn is None or state(page)["ended"]:
                underruns += page.evaluate("() => window.visavis.audio().underruns")
                open_interview(page, base_url)  # the interviewer closed: a new interview
                if turn is None:
                    continue
            done += 1
            if done > warmup:
                measured.append(turn)
        underruns += page.evaluate("() => window.visavis.audio().underruns")
        browser.close()
    latencies = [t["latencyMs"] for t in measured]
    server = [t["metrics"]["first_audio_ms"] for t in measured if t.get("metrics")]
    fps = [t["fps"] for t in measured if t["fps"]["fps"] is not None]
    frames = sum(f["frames"] for f in fps)
    overall_fps = (
        sum(f["fps"] * f["frames"] for f in fps) / frames if frames else float("nan")
    )  # frame-weighted
    errors_ms = [e for t in measured for e in t["mouth_errors_ms"]]
    return {
        "chromium": version,
        "viewport": viewport,
        "cpus": os.cpu_count(),
        # Other work on the machine competes with the voice and the browser: say how much.
        "load_average_1min": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
        "turns_measured": len(measured),
        "first_audio_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "max": round(max(latencies), 1),
            "each": [round(x) for x in latencies],
        },
        "server_first_audio_ms_p50": statistics.median(server) if server else None,
        "face_fps_speaking": {
            "overall": round(overall_fps, 2),
            "slowest_turn": round(min(f["fps"] for f in fps), 2),
            "frames": frames,
        },
        "mouth_sync_ms": {
            "median": round(statistics.median(errors_ms), 2),
            "p95": round(percentile(errors_ms, 0.95), 2),
            "max": round(max(errors_ms), 2),
            "changes": len(errors_ms),
        },
        "audio_underruns": underruns,
        "console_errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--warmup-turns", type=int, default=1)
    parser.add_argument("--speak-s", type=float, default=3.0, help="seconds of each reply heard")
    parser.add_argument("--viewport", default="1280x800")
    args = parser.parse_args()
    with served_visavis() as server:
        result = run(server.base_url, args.turns, args.warmup_turns, args.speak_s, args.viewport)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
