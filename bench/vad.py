"""End-of-turn benchmark: for each end-of-turn silence, how late turns end and how often a
person is cut off mid-sentence. Prints JSON.

Turns are sentences of the evaluation corpus spoken in fragments: each sentence is cut at one
or two random word boundaries and the fragments are joined by hesitation pauses of 150–600 ms
(the pauses people make inside a sentence), then 1.5 s of silence ends the turn. Voices: the
bundled Piper voice and two eSpeak NG variants; a faint noise floor (−50 dBFS) under all of it.
A turn "cut mid-sentence" is one the endpointer split into two utterances or more; "latency"
is from the end of the last voiced sample to the moment the turn was declared over.

With ``--finished-ends``, each setting is also run the way a live conversation hears: at
each pause (200 ms) Whisper tiny.en transcribes the words so far, and when they sound finished
(``visavis.speech.turn_end``) the turn ends after that shorter silence; the transcript is taken
as ready ``--decode-s`` after the pause.

Usage: ``python bench/vad.py [--split train|test] [--limit N] [--silences 300,400,500,600]
[--finished-ends 300,350,400 --decode-s 0.15]``
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
from visavis.speech.turn_end import sounds_finished  # noqa: E402
from visavis.speech.vad import (  # noqa: E402
    Endpointer,
    EndpointOptions,
    PauseHeard,
    SpeechResumed,
    Utterance,
)

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


class Words:
    """Whisper tiny.en on the audio of each pause, remembered (the same pause recurs across
    settings); ``finished`` counts the pauses inside sentences whose words sounded finished."""

    def __init__(self) -> None:
        from visavis.speech.scheduling import DeadlineScheduler
        from visavis.speech.stt.whisper import FasterWhisperEngine

        self.engine = FasterWhisperEngine(scheduler=DeadlineScheduler(1))
        self.engine._load()  # blocking, once: this benchmark decodes synchronously
        self.texts: dict[tuple[int, float, float], str] = {}

    def sound_finished(self, turn: int, pause: PauseHeard) -> bool:
        key = (turn, pause.start, pause.speech_end)
        if key not in self.texts:
            audio = pause.pcm.astype(np.float32) / 32768
            segments = self.engine._decode(audio, final=True)
            self.texts[key] = " ".join(s.text for s in segments)
        return sounds_finished(self.texts[key])


def hear(
    pcm: np.ndarray, turn: int, silence_ms: int, finished: tuple[int, float, Words] | None
) -> list[Utterance]:
    """The turns the endpointer hears in ``pcm`` (and, with ``finished`` = (end silence for
    finished words, decode seconds, words), the shorter end where the words sound finished)."""
    if finished is None:
        endpointer = Endpointer(EndpointOptions(end_silence_ms=silence_ms))
        return [e for e in endpointer.push(pcm) if isinstance(e, Utterance)]
    finished_ms, decode_s, words = finished
    endpointer = Endpointer(EndpointOptions(end_silence_ms=silence_ms, pause_ms=200))
    utterances: list[Utterance] = []
    due: tuple[float, bool] | None = None  # when the pause's words are known, and their verdict
    for start in range(0, len(pcm), 512):
        for event in endpointer.push(pcm[start : start + 512]):
            if isinstance(event, PauseHeard):
                due = (event.at + decode_s, words.sound_finished(turn, event))
            elif isinstance(event, SpeechResumed | Utterance):
                due = None
                if isinstance(event, Utterance):
                    utterances.append(event)
        if due is not None and endpointer.time >= due[0]:
            if due[1]:
                endpointer.end_pause_after(finished_ms)
            due = None
    return utterances


def run(
    turns: list[tuple[np.ndarray, float, int]],
    silence_ms: int,
    finished: tuple[int, float, Words] | None = None,
) -> dict[str, object]:
    latencies: list[float] = []
    cut = missed = 0
    cpu = 0.0
    audio = 0.0
    for index, (pcm, speech_end, _pauses) in enumerate(turns):
        started = time.process_time()
        events = hear(pcm, index, silence_ms, finished)
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
        "finished_end_ms": finished[0] if finished else None,
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
    parser.add_argument("--finished-ends", default="", help="e.g. 300,350,400")
    parser.add_argument("--decode-s", type=float, default=0.15)
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
    if args.finished_ends:
        words = Words()
        for ms in args.silences.split(","):
            for quick in args.finished_ends.split(","):
                if int(quick) < int(ms):
                    results.append(run(turns, int(ms), (int(quick), args.decode_s, words)))
    print(
        json.dumps(
            {"split": args.split, "pauses_inside_sentences": pauses, "results": results}, indent=2
        )
    )


PIPER = PiperEngine(first_chunk_words=None)
ESPEAK = EspeakEngine(voice="en-us")

if __name__ == "__main__":
    main()
