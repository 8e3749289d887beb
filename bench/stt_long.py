"""Whole recordings of a minute or more: decoded whole, or cut at pauses and decoded a piece at a
time. Which gives fewer word errors, at what CPU cost?

``whole``: ``engine.transcribe`` — longer than the short path's limit (about 27 s), through
faster-whisper's own 30 s windows. ``pieces``: as ``visavis transcribe`` and the streamed
transcription API decode (``speech/stt/files.py``): the stretches of speech between pauses,
joined back into pieces of up to 28 s. ``stretches``: each stretch alone.

Long files here: the evaluation set's utterances of one voice joined with 0.4–1.2 s of
silence until at least ``--minutes`` long, plus the human readings (44–53 s).

Whisper base with a beam of 5 on one thread, as the server decodes files. WER with Whisper's
English normalizer. Speed: audio seconds per CPU second. Prints JSON.
Usage: ``python bench/stt_long.py [--split train|test] [--minutes 1] [--model base --beam 5]``
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import human_speech  # noqa: E402
import speech_evalset as ev  # noqa: E402
from stt import build  # noqa: E402
from visavis.speech.stt.files import (  # noqa: E402
    PIECE_MAX_S,
    Piece,
    speech_pieces,
    speech_stretches,
    transcribe_pieces,
)
from visavis.speech.stt.local import LocalSTTEngine  # noqa: E402
from wer import word_errors  # noqa: E402

RATE = 16000


def long_files(split: str, voices: list[str], minutes: float) -> list[tuple[str, str, np.ndarray]]:
    """(voice, text, pcm): each voice's utterances joined until ``minutes`` long."""
    rng = random.Random(7)
    files = []
    for voice in voices:
        texts: list[str] = []
        parts: list[np.ndarray] = []
        for item in ev.load_evalset([voice], split=split):
            texts.append(item.text)
            parts += [item.pcm, np.zeros(int(rng.uniform(0.4, 1.2) * RATE), np.int16)]
            if sum(len(p) for p in parts) >= minutes * 60 * RATE:
                files.append((voice, " ".join(texts), np.concatenate(parts)))
                texts, parts = [], []
    files += [(r.voice, r.text, r.pcm) for r in human_speech.readings() if len(r.pcm) > 27 * RATE]
    return files


async def measure(
    engine: LocalSTTEngine,
    files: list[tuple[str, str, np.ndarray]],
    way: str,
    max_piece_s: float = PIECE_MAX_S,
) -> dict[str, object]:
    errors = words = 0
    audio_s = cpu_s = 0.0
    by_voice: dict[str, list[int]] = {}
    for voice, text, pcm in files:
        cpu = time.process_time()
        if way == "whole":
            heard = (await engine.transcribe(pcm)).text
        else:
            pieces = (
                speech_pieces(pcm, max_piece_s=max_piece_s)
                if way == "pieces"
                else [Piece(s.pcm, s.start) for s in speech_stretches(pcm)]
            )
            heard = (await transcribe_pieces(engine, pcm, pieces)).text
        cpu_s += time.process_time() - cpu
        wrong, count = word_errors(text, heard)
        errors, words = errors + wrong, words + count
        tally = by_voice.setdefault(voice, [0, 0])
        tally[0], tally[1] = tally[0] + wrong, tally[1] + count
        audio_s += len(pcm) / RATE
    return {
        "wer": round(errors / words, 4),
        "words": words,
        "x_real_time_one_core_cpu": round(audio_s / cpu_s, 2),
        "wer_by_voice": {v: round(e / n, 4) for v, (e, n) in sorted(by_voice.items())},
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--voices", default=",".join(ev.VOICES))
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--model", default="base")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument(
        "--ways",
        default="whole,pieces,stretches",
        help="whole, stretches, pieces (up to 28 s, the default) or pieces:S (up to S s)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:1]))
    files = long_files(args.split, args.voices.split(","), args.minutes)
    engine = build(
        f"faster-whisper:{args.model}", padded=False, partial_interval_s=None, beam_size=args.beam
    )
    await engine.load()
    result = {
        "split": args.split,
        "model": args.model,
        "beam": args.beam,
        "files": len(files),
        "audio_s": round(sum(len(f[2]) for f in files) / RATE, 1),
        **{
            way: await measure(
                engine,
                files,
                way.partition(":")[0],
                float(way.partition(":")[2] or PIECE_MAX_S),
            )
            for way in args.ways.split(",")
        },
    }
    await engine.aclose()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
