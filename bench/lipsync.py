"""Lip-sync benchmark: accuracy (Rhubarb's acceptable-shape rules) and speed, as JSON.

Methods: ``phones`` (exact synthesizer timings mapped directly), ``aligned`` (audio + text),
``audio`` (audio alone), ``frozen_b`` (a mouth frozen at B, for scale) and, with
``--rhubarb PATH``, Rhubarb Lip Sync on the same files (``rhubarb`` with the dialog text,
``rhubarb_audio`` without). Speed is audio seconds per processing second on one thread.

Per voice: speed on one core, the scores, and the voice's role — ``fit`` (the acoustic model
was fitted on its ``train`` sentences), ``unseen`` (never fitted on, looked at while
developing) or ``held_out`` (never fitted on nor looked at: the final figures).
``--long 30,60`` adds 30- and 60-minute recordings aligned with their whole dialog (time, peak
memory, accuracy against the sentences' true phones), each in a process of its own.

Usage: ``python bench/lipsync.py [--voices a,b] [--limit N] [--rhubarb PATH] [--long 30,60]``
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import long_recordings  # noqa: E402
import speech_evalset as ev  # noqa: E402
from visavis.speech.audio import write_wav  # noqa: E402
from visavis.speech.lipsync import animate  # noqa: E402
from visavis.speech.lipsync.acoustic import trained_on  # noqa: E402
from visavis.speech.lipsync.track import MouthCue  # noqa: E402

METHODS = ("phones", "aligned", "audio", "frozen_b")


def run_method(method: str, item: ev.EvalItem) -> tuple[list[MouthCue], dict]:
    if method == "phones":
        track = animate(item.pcm, item.sample_rate, phones=item.reported)
    elif method == "aligned":
        track = animate(item.pcm, item.sample_rate, text=item.text)
    elif method == "audio":
        track = animate(item.pcm, item.sample_rate)
    else:
        return [MouthCue(0.0, item.duration, "B", "DD")], {}
    return list(track.cues), dict(track.metadata)


def run_rhubarb(binary: str, item: ev.EvalItem, with_text: bool) -> list[MouthCue]:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        write_wav(wav, item.pcm, item.sample_rate)
        command = [binary, "-f", "tsv", "--threads", "1", "-q"]
        if with_text:
            (Path(tmp) / "dialog.txt").write_text(item.text)
            command += ["-d", str(Path(tmp) / "dialog.txt")]
        done = subprocess.run(
            [*command, str(wav)], capture_output=True, text=True, timeout=600, check=True
        )
    rows = [line.split("\t") for line in done.stdout.strip().splitlines() if "\t" in line]
    cues = []
    for (start, shape), (end, _) in zip(rows, rows[1:], strict=False):
        cues.append(MouthCue(float(start), float(end), shape.strip(), ""))
    return cues


def _cpu_seconds() -> float:
    """CPU time of this process and of finished children (Rhubarb runs as a child)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _first_per_voice(items: list[ev.EvalItem], limit: int) -> list[bool]:
    """Which items are among the first ``limit`` of their voice (the set Rhubarb runs on)."""
    seen: dict[str, int] = {}
    marks = []
    for item in items:
        seen[item.voice] = seen.get(item.voice, 0) + 1
        marks.append(seen[item.voice] <= limit)
    return marks


def _versus(ours: dict, theirs: dict) -> dict:
    """Ours beside Rhubarb's on the same items: speed as a ratio, metrics side by side."""
    out: dict[str, object] = {
        "speed_ratio_cpu": round(ours["x_realtime_cpu"] / theirs["x_realtime_cpu"], 1)
        if ours.get("x_realtime_cpu") and theirs.get("x_realtime_cpu")
        else None
    }
    for name in ("accept", "vowel_accept", "closure_recall", "false_closures", "silence",
                 "closure_onset_error_ms"):  # fmt: skip
        out[name] = {"ours": ours.get(name), "rhubarb": theirs.get(name)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--voices",
        default=",".join(v for v in ev.VOICES if v not in ev.HELD_OUT_VOICES),
        help="voices to score ('all' adds the held-out ones, for the final figures)",
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=0, help="items per voice (0 = all)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--rhubarb", help="path of a Rhubarb Lip Sync binary to compare")
    parser.add_argument("--rhubarb-limit", type=int, default=4, help="items per voice for Rhubarb")
    parser.add_argument("--long", default="", help="minutes of long recordings, e.g. 30,60")
    parser.add_argument("--long-voice", default="espeak-us", help="voice of the long recordings")
    args = parser.parse_args()
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])  # one core, Rhubarb too
    voices = list(ev.VOICES) if args.voices == "all" else [v for v in args.voices.split(",") if v]
    methods = [m for m in args.methods.split(",") if m]
    if args.rhubarb:
        methods += ["rhubarb", "rhubarb_audio"]
    items = ev.load_evalset(voices, split=args.split)
    if args.limit:
        per_voice: dict[str, int] = {}
        kept = []
        for item in items:
            per_voice[item.voice] = per_voice.get(item.voice, 0) + 1
            if per_voice[item.voice] <= args.limit:
                kept.append(item)
        items = kept
    # Warm up: load models and libraries once, outside the timings.
    animate(items[0].pcm, items[0].sample_rate, text=items[0].text)
    in_subset = _first_per_voice(items, args.rhubarb_limit)
    report: dict[str, dict] = {}
    for method in methods:
        per_voice_counts: dict[str, ev.Counts] = {}
        per_voice_time: dict[str, list[float]] = {}  # audio seconds, CPU seconds
        subset = ev.Counts()
        audio_s = compute_s = cpu_s = subset_audio_s = subset_cpu_s = 0.0
        fallbacks = 0
        for index, item in enumerate(items):
            if method.startswith("rhubarb") and not in_subset[index]:
                continue
            started, cpu = time.perf_counter(), _cpu_seconds()
            if method.startswith("rhubarb"):
                cues = run_rhubarb(args.rhubarb, item, method == "rhubarb")
                metadata: dict = {}
            else:
                cues, metadata = run_method(method, item)
            compute_s += time.perf_counter() - started
            spent = _cpu_seconds() - cpu
            cpu_s += spent
            audio_s += item.duration
            fallbacks += metadata.get("fallback_reason") is not None
            counts = ev.score(item.phones, cues, item.duration)
            per_voice_counts.setdefault(item.voice, ev.Counts()).add(counts)
            timing = per_voice_time.setdefault(item.voice, [0.0, 0.0])
            timing[0] += item.duration
            timing[1] += spent
            if in_subset[index]:
                subset.add(counts)
                subset_audio_s += item.duration
                subset_cpu_s += spent
        total = ev.Counts()
        for counts in per_voice_counts.values():
            total.add(counts)
        unseen = [v for v in per_voice_counts if v not in trained_on()]
        report[method] = {
            "all": total.metrics(),
            "x_realtime": round(audio_s / compute_s, 1) if compute_s else None,
            "x_realtime_cpu": round(audio_s / cpu_s, 1) if cpu_s else None,
            "audio_seconds": round(audio_s, 1),
            "fallbacks": fallbacks,
            "per_voice": {
                v: {
                    "role": _role(v),
                    "x_realtime_cpu": _speed(*per_voice_time[v]),
                    **c.metrics(),
                }
                for v, c in per_voice_counts.items()
            },
            "voices_not_in_model_fit": unseen,
        }
        if args.rhubarb:
            report[method]["rhubarb_items"] = {
                **subset.metrics(),
                "x_realtime_cpu": round(subset_audio_s / subset_cpu_s, 1) if subset_cpu_s else None,
                "audio_seconds": round(subset_audio_s, 1),
            }
    document = {
        "split": args.split,
        "items": len(items),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "methods": report,
    }
    if args.rhubarb:
        document["versus_rhubarb"] = {
            ours: _versus(report[ours]["rhubarb_items"], report[theirs]["rhubarb_items"])
            for ours, theirs in (("aligned", "rhubarb"), ("audio", "rhubarb_audio"))
            if ours in report
        }
    if args.long:
        lengths = [float(minutes) for minutes in args.long.split(",")]
        document["long_recordings"] = [
            long_recordings.measure(minutes, args.long_voice) for minutes in lengths
        ]
        # The shortest again, its dialog without every 20th line (ad-libs in the audio).
        document["long_recordings"].append(
            long_recordings.measure(min(lengths), args.long_voice, ad_lib_every=20)
        )
    print(json.dumps(document, indent=1))


def _role(voice: str) -> str:
    if voice in trained_on():
        return "fit"
    return "held_out" if voice in ev.HELD_OUT_VOICES else "unseen"


def _speed(audio_s: float, cpu_s: float) -> float | None:
    return round(audio_s / cpu_s, 1) if cpu_s else None


if __name__ == "__main__":
    main()
