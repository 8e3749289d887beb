"""End-of-turn benchmark: for each end-of-turn silence, how late turns end and how often a
person is cut off mid-sentence. Prints JSON.

Turns are sentences of the evaluation corpus spoken in fragments: each sentence is cut at one
or two random word boundaries and the fragments are joined by hesitation pauses of 150–600 ms
(the pauses people make inside a sentence), then 1.5 s of silence ends the turn. Voices: the
bundled Piper voice and two eSpeak NG variants; a faint noise floor (−50 dBFS) under all of it.
A turn "cut mid-sentence" is one the endpointer split into two utterances or more; "latency"
is from the end of the last voiced sample to the moment the turn was declared over.

Usage: ``python bench/vad.py [--split train|test] [--limit N] [--silences 300,400,500,600]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech_evalset as ev  # noqa: E402
from visavis.speech.tts.espeak import EspeakEngine  # noqa: E402
from visavis.speech.tts.piper import PiperEngine  # noqa: E402
from visavis.speech.vad import Endpointer, EndpointOptions, Utterance  # noqa: E402

RATE = 16000


def speak(voice: str, text: str) -> np.ndarray:
    if voice == "piper-joe":
        chunks = PIPER.synthesize_sentence(text, RATE)
        return np.concatenate([c.pcm for c in chunks])
    name, rate = {"espeak-us": ("en-us", 1.0), "espeak-f3-fast": ("en-us+f3", 1.3)}[voice]
    return (
        ESPEAK.synthesize_sentence(text, RATE, rate=rate).pcm
        if name == "en-us"
        else (EspeakEngine(voice=name).synthesize_sentence(text, RATE, rate=rate).pcm)
    )


def trim(pcm: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 200)
    return pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm


def turn(voice: str, sentence: str, rng: random.Random) -> tuple[np.ndarray, float, int]:
    """The turn's audio, when its speech ends, and how many pauses it holds."""
    words = sentence.split()
    cuts = sorted(rng.sample(range(2, len(words) - 1), k=min(2, max(1, len(words) // 5))))
    fragments = [" ".join(words[a:b]) for a, b in zip([0, *cuts], [*cuts, len(words)], strict=True)]
    parts = [np.zeros(int(0.4 * RATE), np.int16)]
    for index, fragment in enumerate(fragments):
        parts.append(trim(speak(voice, fragment)))
        if index + 1 < len(fragments):
            parts.append(np.zeros(int(rng.uniform(0.15, 0.6) * RATE), np.int16))
    speech_end = sum(len(p) for p in parts) / RATE
    parts.append(np.zeros(int(1.5 * RATE), np.int16))
    pcm = np.concatenate(parts).astype(np.float32)
    pcm += np.random.default_rng(rng.randrange(1 << 30)).normal(
        0, 32768 * 10 ** (-50 / 20), len(pcm)
    )
    return np.clip(pcm, -32768, 32767).astype(np.int16), speech_end, len(fragments) - 1


def run(turns: list[tuple[np.ndarray, float, int]], silence_ms: int) -> dict[str, object]:
    latencies: list[float] = []
    cut = missed = 0
    cpu = 0.0
    audio = 0.0
    for pcm, speech_end, _pauses in turns:
        endpointer = Endpointer(EndpointOptions(end_silence_ms=silence_ms))
        started = time.process_time()
        events = [e for e in endpointer.push(pcm) if isinstance(e, Utterance)]
        cpu += time.process_time() - started
        audio += len(pcm) / RATE
        if not events:
            missed += 1
            continue
        cut += len(events) > 1
        latencies.append(1000 * (events[-1].ended_at - speech_end))
    ordered = sorted(latencies)
    return {
        "end_silence_ms": silence_ms,
        "turns": len(turns),
        "cut_mid_sentence": cut,
        "cut_rate": round(cut / len(turns), 3),
        "no_turn_detected": missed,
        "end_latency_ms_p50": round(statistics.median(ordered), 1),
        "end_latency_ms_p95": round(ordered[round(0.95 * (len(ordered) - 1))], 1),
        "x_real_time_one_core_cpu": round(audio / cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--limit", type=int, default=16, help="sentences per voice")
    parser.add_argument("--silences", default="300,400,500,600,700")
    args = parser.parse_args()
    rng = random.Random(f"vad-{args.split}")
    sentences = ev.sentences(args.split)[: args.limit]
    turns = [
        turn(voice, sentence, rng)
        for voice in ("piper-joe", "espeak-us", "espeak-f3-fast")
        for sentence in sentences
    ]
    pauses = sum(p for *_, p in turns)
    results = [run(turns, int(ms)) for ms in args.silences.split(",")]
    print(
        json.dumps(
            {"split": args.split, "pauses_inside_sentences": pauses, "results": results}, indent=2
        )
    )


PIPER = PiperEngine(first_chunk_words=None)
ESPEAK = EspeakEngine(voice="en-us")

if __name__ == "__main__":
    main()
