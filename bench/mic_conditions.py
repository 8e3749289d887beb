"""Live turns under microphone conditions: what the listener hears and how many words it gets.

Each utterance of the evaluation set (two sentences with a real pause between them) is streamed
through ``VoiceListener`` — voice activity, end of turn and Whisper tiny.en, as a live
conversation hears — after 1 s of silence and before 1.5 s of it, in 20 ms frames (faster than
real time: the end of turn counts audio heard, not the wall clock). Every condition is applied
to the whole stream, silences included:

- ``clean``: as synthesized;
- ``quiet``: scaled to a −40 dBFS peak (a far or muted microphone, no automatic gain);
- ``clipped``: six times too loud, clipped;
- ``white10`` / ``pink10``: white or pink noise 10 dB under the speech's level;
- ``phone``: band-limited to 4 kHz (8 kHz telephone audio resampled to 16 kHz);
- ``hum``: a DC offset and a 50 Hz mains hum.

For each: word error rate of the finals joined (Whisper's English normalizer, as
``bench/stt.py``), turns ended, and utterances that ended no turn at all. Then 10 s of noise
alone (white at −40 dBFS, pink at −30 dBFS, the hum): turns started by them (should be 0).
``whole_file_wer`` decodes each clean stream whole with the same model, for comparison: the
listener decodes each turn on its own, with no words of the other sentence around it.

Usage: ``python bench/mic_conditions.py [--split train|test] [--voices a,b] [--limit N]
[--conditions clean,quiet,...] [--model tiny.en|base]``. Prints JSON.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from scipy.signal import lfilter, resample_poly  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech_evalset as ev  # noqa: E402
from visavis.speech.listener import FinalText, TranscriptionFailed, VoiceListener  # noqa: E402
from visavis.speech.scheduling import DeadlineScheduler  # noqa: E402
from visavis.speech.stt.whisper import FasterWhisperEngine, WhisperOptions  # noqa: E402
from visavis.speech.stt.whisper_models import WHISPER_MODEL_NAMES  # noqa: E402
from visavis.testing.word_errors import edit_distance  # noqa: E402
from wer import whisper_normalize  # noqa: E402

RATE = 16000
FRAME = 320
Audio = npt.NDArray[np.float64]
VOICES = ("piper-joe", "festival-slt-hts", "espeak-us", "festival-kal")
# Pink noise: white noise through a 1/f filter (J. O. Smith's three-pole filter).
_PINK_B = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
_PINK_A = [1.0, -2.494956002, 2.017265875, -0.522189400]


def _rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(x**2))) + 1e-9


def _speech_rms(x: Audio) -> float:
    return _rms(x[np.abs(x) > 500])


def _pink(n: int, rng: np.random.Generator) -> Audio:
    noise: Audio = lfilter(_PINK_B, _PINK_A, rng.standard_normal(n))
    return noise / _rms(noise)


def _hum(n: int) -> Audio:
    return 1500 + 800 * np.sin(2 * np.pi * 50 * np.arange(n) / RATE)


def conditions(rng: np.random.Generator) -> dict[str, Callable[[Audio], Audio]]:
    return {
        "clean": lambda x: x,
        "quiet": lambda x: x * (10 ** (-40 / 20) * 32768 / (np.abs(x).max() + 1)),
        "clipped": lambda x: x * 6,
        "white10": lambda x: x + rng.standard_normal(len(x)) * _speech_rms(x) / 10 ** (10 / 20),
        "pink10": lambda x: x + _pink(len(x), rng) * _speech_rms(x) / 10 ** (10 / 20),
        "phone": lambda x: resample_poly(resample_poly(x, 1, 2), 2, 1)[: len(x)],
        "hum": lambda x: x + _hum(len(x)),
    }


def _pcm16(x: Audio) -> npt.NDArray[np.int16]:
    return np.clip(x, -32768, 32767).astype(np.int16)


async def listen(engine: FasterWhisperEngine, audio: npt.NDArray[np.int16]) -> list[str]:
    """The finals of ``audio`` streamed through a listener (an unheard turn: empty text)."""
    listener = VoiceListener(engine)
    finals: list[str] = []

    async def read() -> None:
        async for event in listener.events():
            if isinstance(event, FinalText):
                finals.append(event.transcript.text)
            elif isinstance(event, TranscriptionFailed):
                finals.append("")

    reader = asyncio.create_task(read())
    for start in range(0, len(audio), FRAME):
        listener.push(audio[start : start + FRAME])
        await asyncio.sleep(0.002)  # lets partials and the final decode run meanwhile
    listener.end_of_audio()
    await asyncio.sleep(1.5)
    await listener.aclose()
    await reader
    return finals


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--voices", default=",".join(VOICES))
    parser.add_argument("--limit", type=int, default=4, help="utterances per voice")
    parser.add_argument("--conditions", default="clean,quiet,clipped,white10,pink10,phone,hum")
    parser.add_argument(
        "--model", default="tiny.en", choices=WHISPER_MODEL_NAMES, help="the live turns' Whisper"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    shapes = conditions(rng)
    if unknown := set(args.conditions.split(",")) - set(shapes):
        raise SystemExit(f"unknown conditions {sorted(unknown)}: pick from {sorted(shapes)}")
    items = [
        item
        for voice in args.voices.split(",")
        for item in ev.load_evalset([voice], split=args.split)[: args.limit]
    ]
    engine = FasterWhisperEngine(
        WhisperOptions(model=args.model), scheduler=DeadlineScheduler(1), partial_interval_s=0.5
    )
    await engine.load()
    streams = [
        np.concatenate([np.zeros(RATE), item.pcm.astype(np.float64), np.zeros(RATE * 3 // 2)])
        for item in items
    ]
    refs = [whisper_normalize(item.text) for item in items]
    words = sum(len(ref) for ref in refs)
    report: dict[str, object] = {
        "split": args.split,
        "model": args.model,
        "voices": args.voices.split(","),
        "utterances": len(items),
        "words": words,
        "conditions": {},
    }
    for name in args.conditions.split(","):
        errors = turns = unheard = 0
        for stream, ref in zip(streams, refs, strict=True):
            finals = await listen(engine, _pcm16(shapes[name](stream)))
            turns += len(finals)
            unheard += not finals
            errors += edit_distance(ref, whisper_normalize(" ".join(finals)))
        result = {"wer": round(errors / words, 4), "turns": turns, "no_turn": unheard}
        report["conditions"][name] = result  # type: ignore[index]
        print(name, result, file=sys.stderr, flush=True)
    whole = 0
    for stream, ref in zip(streams, refs, strict=True):
        whole += edit_distance(
            ref, whisper_normalize((await engine.transcribe(_pcm16(stream))).text)
        )
    report["whole_file_wer"] = round(whole / words, 4)
    alone = {
        "white-40dBFS": rng.standard_normal(10 * RATE) * 32768 * 10 ** (-40 / 20),
        "pink-30dBFS": _pink(10 * RATE, rng) * 32768 * 10 ** (-30 / 20),
        "hum": _hum(10 * RATE),
    }
    report["turns_from_noise_alone"] = {
        name: len(await listen(engine, _pcm16(noise))) for name, noise in alone.items()
    }
    await engine.aclose()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
