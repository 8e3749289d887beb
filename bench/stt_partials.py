"""What a partial transcript costs: a loop cut where it starts, against decoded again.

A partial decodes the utterance so far, every 0.5 s of it, as the live stream does. When the
short decode loops (says a stretch again), a final is decoded again faster-whisper's own way:
padded to 30 s, with its fallback temperatures. A partial is cut where the loop starts
instead (``cut_loops``). Here every 0.5 s prefix of every clip is decoded both ways, in one
run on one core: CPU ms per partial (p50, p95, max, total), how many prefixes looped, and what
the looped ones read each way.

Usage: ``python bench/stt_partials.py [--engine faster-whisper[:base]] [--split train|test]
[--voices a,b] [--limit N]``. Prints JSON.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech_evalset as ev  # noqa: E402
from stt import build, load_items  # noqa: E402
from visavis.speech.stt.whisper import FasterWhisperEngine  # noqa: E402
from visavis.speech.stt.whisper_short import decode_short_batch  # noqa: E402

STEP = 8000  # a partial every 0.5 s of audio, as ``stt_partial_interval_ms`` defaults


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
        "max": round(ordered[-1], 1),
        "total_s": round(sum(ordered) / 1000, 2),
    }


def _text(segments: list | None) -> str:  # type: ignore[type-arg]
    return " ".join(s.text for s in segments or [])


def compare(engine: FasterWhisperEngine, clips: list[np.ndarray]) -> dict[str, object]:
    model, tokenizer = engine._model, engine._tokenizer
    cut_ms: list[float] = []
    again_ms: list[float] = []
    looped: list[dict[str, str]] = []
    for pcm in clips:
        audio = pcm.astype(np.float32) / 32768.0
        for end in range(STEP, len(audio) + 1, STEP):
            prefix = audio[:end]
            kwargs = {"words": False, "beam_size": engine.options.beam_size}
            kwargs["width_step"] = engine.options.width_step
            started = time.process_time()
            (short,) = decode_short_batch(model, tokenizer, [prefix], **kwargs)  # type: ignore[arg-type]
            short_ms = 1000 * (time.process_time() - started)
            cut_ms.append(short_ms)  # cutting the tokens costs nothing more
            if short is not None:
                again_ms.append(short_ms)
                continue
            started = time.process_time()
            padded = engine._decode_padded(prefix, False)
            again_ms.append(short_ms + 1000 * (time.process_time() - started))
            (cut,) = decode_short_batch(model, tokenizer, [prefix], cut_loops=True, **kwargs)  # type: ignore[arg-type]
            looped.append(
                {"at_s": f"{end / 16000:.1f}", "cut": _text(cut), "decoded_again": _text(padded)}
            )
    return {
        "partials": len(cut_ms),
        "looped": len(looped),
        "cpu_ms_cut": _stats(cut_ms),
        "cpu_ms_decoded_again": _stats(again_ms),
        "looped_examples": looped[:8],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="faster-whisper")
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--voices", default=",".join(ev.VOICES))
    parser.add_argument("--limit", type=int, default=None, help="utterances per voice")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    items = load_items(args.split, args.voices.split(","), args.limit, human=False)
    engine = build(args.engine, padded=False, partial_interval_s=0.5)
    if not isinstance(engine, FasterWhisperEngine):
        raise SystemExit("partials are decoded this way by the Whisper engines only")
    await engine.load()
    report = {"engine": args.engine, "split": args.split, "clips": len(items)}
    report |= compare(engine, [pcm for _, _, pcm in items])
    await engine.aclose()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
