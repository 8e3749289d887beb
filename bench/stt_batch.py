"""What a batch of decodes costs against the same decodes one by one (Whisper, short context).

Utterances of the development half of the evaluation set (``speech_evalset``: Piper, festival,
flite and eSpeak NG voices) are grouped by input width — the utterances a burst of turns would
batch together — and each group is decoded one by one, then in batches of 2, 4 and 8. Speed is
CPU time on one core (process pinned, engine on one thread), with final decodes (word times).
``same_text`` says whether every utterance got the same words batched as alone.

Usage: ``python bench/stt_batch.py [--model tiny.en|base] [--utterances N]``. Prints JSON.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from speech_evalset import load_evalset  # noqa: E402
from visavis.speech.scheduling import DeadlineScheduler  # noqa: E402
from visavis.speech.stt.whisper import FasterWhisperEngine, WhisperOptions  # noqa: E402
from visavis.speech.stt.whisper_short import decode_short_batch, fits, width  # noqa: E402

SIZES = (1, 2, 4, 8)
STEP = WhisperOptions().width_step  # as for live turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--utterances", type=int, default=64, help="at most this many")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(json.dumps(asyncio.run(measure(args.model, args.utterances)), indent=2))


async def measure(model: str, limit: int) -> dict[str, object]:
    options = WhisperOptions(model=model)  # type: ignore[arg-type]
    engine = FasterWhisperEngine(options, scheduler=DeadlineScheduler(1))
    await engine.load()
    groups: dict[int, list[np.ndarray]] = defaultdict(list)
    for item in load_evalset(split="train"):
        pcm = item.pcm.astype(np.float32) / 32768
        audio = resample_poly(pcm, 16000, item.sample_rate).astype(np.float32)
        if fits(len(audio)):
            groups[width(len(audio), STEP)].append(audio)
    # The widest groups first: eight utterances of one width make a batch of each size.
    batches = sorted((g for g in groups.values() if len(g) >= max(SIZES)), key=len, reverse=True)
    audios = [a for group in batches for a in group[: max(SIZES)]][: limit // 8 * 8]
    model_ = engine._model
    tokenizer = engine._tokenizer
    alone = [
        decode_short_batch(model_, tokenizer, [a], words=True, beam_size=1, width_step=STEP)[0]
        for a in audios
    ]
    results: dict[str, object] = {"model": model, "utterances": len(audios)}
    audio_s = sum(len(a) for a in audios) / 16000
    results["audio_s"] = round(audio_s, 1)
    for size in SIZES:
        started = time.process_time()
        texts = []
        for offset in range(0, len(audios), max(SIZES)):
            group = audios[offset : offset + max(SIZES)]
            for at in range(0, len(group), size):
                texts += decode_short_batch(
                    model_,
                    tokenizer,
                    group[at : at + size],
                    words=True,
                    beam_size=1,
                    width_step=STEP,
                )
        cpu = time.process_time() - started
        results[f"batch_{size}"] = {
            "cpu_s": round(cpu, 2),
            "x_real_time_one_core": round(audio_s / cpu, 1),
            "same_text": [_text(t) for t in texts] == [_text(t) for t in alone],
        }
    await engine.aclose()
    return results


def _text(segments: object) -> str | None:
    if segments is None:
        return None
    return " ".join(s.text for s in segments)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
