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
as ready ``--decode-s`` after the pause. With ``--unfinished-ends``, the other way round: where
the words do not sound finished, the pause ends the turn only after that longer silence (and,
with both options, each pause gets one or the other).

With ``--turn-model``, each setting is also run with an audio judge instead: at each pause
(200 ms) Smart Turn v3 (``visavis.speech.turn_model``) scores the audio so far, and where it
says the turn is complete (probability at or above each of ``--turn-thresholds``) the turn ends
after that shorter silence; the verdict is taken as ready ``--model-s`` after the pause. With
both options, a third rule ends early only where the model and the words agree.

Two ways to make a turn (``--variants``): ``fragments`` speaks each fragment on its own and
joins them (each fragment then ends with a sentence's falling voice, which no audio judge can
tell from a real end); ``whole`` speaks the sentence once and opens the pauses inside it at
the same word boundaries (found from the voice's phone timings: the boundary after the
fragment's phones, moved to the quietest 10 ms within 40 ms), so the voice before a pause is
the voice of a sentence going on.

Usage: ``python bench/vad.py [--split train|test] [--limit N] [--silences 300,400,500,600]
[--finished-ends 300,350,400 --decode-s 0.15] [--unfinished-ends 900,1200]
[--turn-model 250,300 --turn-thresholds 0.5 --model-s 0.1] [--variants fragments,whole]``
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech_evalset as ev  # noqa: E402
from visavis.speech.tts.base import PhoneTiming  # noqa: E402
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
VOICES = ("piper-joe", "espeak-us", "espeak-f3-fast")


def spoken(voice: str, text: str) -> tuple[np.ndarray, list[PhoneTiming]]:
    """``text`` in ``voice`` at 16 kHz, with its phone timings (seconds)."""
    if voice == "piper-joe":
        chunks = PIPER.synthesize_sentence(text, RATE)
        phones: list[PhoneTiming] = []
        offset = 0.0
        for chunk in chunks:
            phones += [PhoneTiming(p, a + offset, b + offset) for p, a, b in chunk.phones or ()]
            offset += chunk.duration
        return np.concatenate([c.pcm for c in chunks]), phones
    name, rate = {"espeak-us": ("en-us", 1.0), "espeak-f3-fast": ("en-us+f3", 1.3)}[voice]
    engine = ESPEAK if name == "en-us" else EspeakEngine(voice=name)
    chunk = engine.synthesize_sentence(text, RATE, rate=rate)
    return chunk.pcm, list(chunk.phones or ())


def speak(voice: str, text: str) -> np.ndarray:
    return spoken(voice, text)[0]


def trim(pcm: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 200)
    return pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm


def voiced_phones(phones: list[PhoneTiming]) -> list[PhoneTiming]:
    return [p for p in phones if p.phone != "SIL"]


def boundaries(voice: str, words: list[str], cuts: list[int]) -> tuple[np.ndarray, list[int]]:
    """The whole sentence spoken once, and the sample where each cut's word boundary lies: after
    as many phones as the words before the cut have when spoken alone, moved to the quietest
    10 ms within 40 ms (the phone count of a word hardly depends on what follows it)."""
    pcm, phones = spoken(voice, " ".join(words))
    sounds = voiced_phones(phones)
    at: list[int] = []
    for cut in cuts:
        count = len(voiced_phones(spoken(voice, " ".join(words[:cut]))[1]))
        guess = int(sounds[min(count, len(sounds)) - 1].end * RATE)
        step, reach = RATE // 100, int(0.04 * RATE)
        starts = range(max(0, guess - reach), min(len(pcm) - step, guess + reach), step // 2)
        energy = [float(np.square(pcm[a : a + step].astype(np.float32)).mean()) for a in starts]
        at.append(starts[int(np.argmin(energy))] + step // 2 if energy else guess)
    return pcm, at


#: A turn: its audio, when its speech ends, and how many pauses it holds.
Turn = tuple[np.ndarray, float, int]


def turns(voice: str, sentence: str, rng: random.Random) -> dict[str, Turn]:
    """One sentence of ``voice`` made a turn both ways (``fragments``, ``whole``): the same cuts,
    the same pauses and the same noise floor."""
    words = sentence.split()
    cuts = sorted(rng.sample(range(2, len(words) - 1), k=min(2, max(1, len(words) // 5))))
    fragments = [" ".join(words[a:b]) for a, b in zip([0, *cuts], [*cuts, len(words)], strict=True)]
    spoken_parts = [trim(speak(voice, fragment)) for fragment in fragments]
    gaps = [np.zeros(int(rng.uniform(0.15, 0.6) * RATE), np.int16) for _ in cuts]
    noise_seed = rng.randrange(1 << 30)
    whole, at = boundaries(voice, words, cuts)
    loud = np.flatnonzero(np.abs(whole.astype(np.int32)) > 200)
    first, last = (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, len(whole))
    edges = [first, *at, last]
    # Each piece trimmed as a fragment is: a pause the voice made at the boundary (a comma)
    # is not added to the hesitation.
    whole_parts = [trim(whole[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
    made: dict[str, Turn] = {}
    for name, parts in (("fragments", spoken_parts), ("whole", whole_parts)):
        pieces = [np.zeros(int(0.4 * RATE), np.int16)]
        for index, part in enumerate(parts):
            pieces.append(part)
            if index < len(gaps):
                pieces.append(gaps[index])
        speech_end = sum(len(p) for p in pieces) / RATE
        pieces.append(np.zeros(int(1.5 * RATE), np.int16))
        pcm = np.concatenate(pieces).astype(np.float32)
        pcm += np.random.default_rng(noise_seed).normal(0, 32768 * 10 ** (-50 / 20), len(pcm))
        made[name] = (np.clip(pcm, -32768, 32767).astype(np.int16), speech_end, len(cuts))
    return made


class Words:
    """Whisper tiny.en on the audio of each pause, remembered (the same pause recurs across
    settings); ``finished`` counts the pauses inside sentences whose words sounded finished."""

    def __init__(self) -> None:
        from visavis.speech.scheduling import DeadlineScheduler
        from visavis.speech.stt.whisper import FasterWhisperEngine

        self.engine = FasterWhisperEngine(scheduler=DeadlineScheduler(1))
        self.engine._load()  # blocking, once: this benchmark decodes synchronously
        self.texts: dict[tuple[str, int, float, float], str] = {}

    def sound_finished(self, variant: str, turn: int, pause: PauseHeard) -> bool:
        key = (variant, turn, pause.start, pause.speech_end)
        if key not in self.texts:
            audio = (pause.pcm / 32768).astype(np.float32)
            segments = self.engine._decode(audio, final=True)
            self.texts[key] = " ".join(s.text for s in segments)
        return sounds_finished(self.texts[key])

    def wait(
        self, variant: str, slow_ms: int, quick_ms: int | None, turn: int, pause: PauseHeard
    ) -> int | None:
        """The pause's end silence: ``slow_ms`` where the words go on, ``quick_ms`` (if any)
        where they sound finished."""
        return quick_ms if self.sound_finished(variant, turn, pause) else slow_ms


class Judge:
    """Smart Turn v3 on the audio of each pause, remembered; ``cpu_ms`` per call (one core)."""

    def __init__(self) -> None:
        from visavis.speech.turn_model import TurnModel

        self.model = TurnModel()
        self.model.load()
        self.probabilities: dict[tuple[str, int, float, float], float] = {}
        self.cpu_s: list[float] = []

    def probability(self, variant: str, turn: int, pause: PauseHeard) -> float:
        key = (variant, turn, pause.start, pause.speech_end)
        if key not in self.probabilities:
            started = time.process_time()
            self.probabilities[key] = self.model.probability(pause.pcm)
            self.cpu_s.append(time.process_time() - started)
        return self.probabilities[key]


#: Another end at a pause: (seconds after the pause its verdict is ready, the verdict for turn
#: number and pause — the pause's own end silence in ms, or None to keep the setting's —, a
#: label for the report).
Quick = tuple[float, Callable[[int, PauseHeard], int | None], dict[str, object]]


def when(quick_ms: int, verdict: Callable[[int, PauseHeard], bool]) -> Callable[..., int | None]:
    """A verdict that ends the pause after ``quick_ms`` where ``verdict`` says so."""
    return lambda turn, pause: quick_ms if verdict(turn, pause) else None


def hear(pcm: np.ndarray, turn: int, silence_ms: int, quick: Quick | None) -> list[Utterance]:
    """The turns the endpointer hears in ``pcm`` (and, with ``quick``, the pause's own end
    silence where its verdict gives one)."""
    if quick is None:
        endpointer = Endpointer(EndpointOptions(end_silence_ms=silence_ms))
        return [e for e in endpointer.push(pcm) if isinstance(e, Utterance)]
    ready_s, verdict, _label = quick
    endpointer = Endpointer(EndpointOptions(end_silence_ms=silence_ms, pause_ms=200))
    utterances: list[Utterance] = []
    due: tuple[float, int | None] | None = None  # when the pause's verdict is known, and it
    for start in range(0, len(pcm), 512):
        for event in endpointer.push(pcm[start : start + 512]):
            if isinstance(event, PauseHeard):
                due = (event.at + ready_s, verdict(turn, event))
            elif isinstance(event, SpeechResumed | Utterance):
                due = None
                if isinstance(event, Utterance):
                    utterances.append(event)
        if due is not None and endpointer.time >= due[0]:
            if due[1] is not None:
                endpointer.end_pause_after(due[1])
            due = None
    return utterances


def run(
    variant: str, turns: list[Turn], silence_ms: int, quick: Quick | None = None
) -> dict[str, object]:
    latencies: list[float] = []
    cut = missed = 0
    by_voice = dict.fromkeys(VOICES, 0)
    cpu = 0.0
    audio = 0.0
    for index, (pcm, speech_end, _pauses) in enumerate(turns):
        started = time.process_time()
        events = hear(pcm, index, silence_ms, quick)
        cpu += time.process_time() - started
        audio += len(pcm) / RATE
        if not events:
            missed += 1
            continue
        cut += len(events) > 1
        by_voice[VOICES[index * len(VOICES) // len(turns)]] += len(events) > 1
        latencies.append(1000 * (events[-1].ended_at - speech_end))
    ordered = sorted(latencies)
    return {
        "variant": variant,
        "end_silence_ms": silence_ms,
        **(quick[2] if quick else {}),
        "turns": len(turns),
        "cut_mid_sentence": cut,
        "cut_rate": round(cut / len(turns), 3),
        "cut_by_voice": by_voice,
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
    parser.add_argument("--unfinished-ends", default="", help="e.g. 900,1200")
    parser.add_argument("--decode-s", type=float, default=0.15)
    parser.add_argument("--turn-model", default="", help="e.g. 250,300")
    parser.add_argument("--turn-thresholds", default="0.5")
    parser.add_argument("--model-s", type=float, default=0.1)
    parser.add_argument("--variants", default="fragments")
    args = parser.parse_args()
    rng = random.Random(f"vad-{args.split}")
    sentences = ev.sentences(args.split)[: args.limit]
    made = [turns(voice, sentence, rng) for voice in VOICES for sentence in sentences]
    variants = {name: [m[name] for m in made] for name in args.variants.split(",")}
    pauses = sum(p for *_, p in next(iter(variants.values())))
    silences = [int(ms) for ms in args.silences.split(",")]
    words = Words() if args.finished_ends or args.unfinished_ends else None
    judge = Judge() if args.turn_model else None
    results = []
    quicks = [int(q) for q in args.finished_ends.split(",") if q]
    for variant, heard in variants.items():
        results += [run(variant, heard, ms) for ms in silences]
        for ms in silences:
            if words is not None:
                for quick in [q for q in quicks if q < ms]:
                    finished = when(quick, functools.partial(words.sound_finished, variant))
                    label: dict[str, object] = {"finished_end_ms": quick}
                    results.append(run(variant, heard, ms, (args.decode_s, finished, label)))
                for slow in [int(q) for q in args.unfinished_ends.split(",") if q and int(q) > ms]:
                    waits = functools.partial(words.wait, variant, slow, None)
                    label = {"unfinished_end_ms": slow}
                    results.append(run(variant, heard, ms, (args.decode_s, waits, label)))
                    for quick in [q for q in quicks if q < ms]:
                        both_ways = functools.partial(words.wait, variant, slow, quick)
                        label = {"unfinished_end_ms": slow, "finished_end_ms": quick}
                        results.append(run(variant, heard, ms, (args.decode_s, both_ways, label)))
            if judge is not None:
                for quick in [int(q) for q in args.turn_model.split(",") if int(q) < ms]:
                    for threshold in [float(t) for t in args.turn_thresholds.split(",")]:
                        complete = when(
                            quick, functools.partial(complete_at, judge, variant, threshold)
                        )
                        label = {"turn_model_end_ms": quick, "turn_model_threshold": threshold}
                        results.append(run(variant, heard, ms, (args.model_s, complete, label)))
                        if words is not None:
                            both = when(
                                quick, functools.partial(both_at, judge, words, variant, threshold)
                            )
                            ready = max(args.model_s, args.decode_s)
                            label = {**label, "and_finished_words": True}
                            results.append(run(variant, heard, ms, (ready, both, label)))
    report: dict[str, object] = {
        "split": args.split,
        "pauses_inside_sentences": pauses,
        "results": results,
    }
    if judge is not None:
        report["turn_model_at_pauses"] = {
            variant: separation(judge, variant, heard) for variant, heard in variants.items()
        }
    if judge is not None and judge.cpu_s:
        cpu_ms = sorted(1000 * s for s in judge.cpu_s)
        report["turn_model_cpu_ms_per_call"] = {
            "calls": len(cpu_ms),
            "p50": round(statistics.median(cpu_ms), 1),
            "p95": round(cpu_ms[round(0.95 * (len(cpu_ms) - 1))], 1),
        }
    print(json.dumps(report, indent=2))


def separation(judge: Judge, variant: str, heard: list[Turn]) -> dict[str, object]:
    """How well the model's probabilities tell the real ends (the pause after the last word)
    from the pauses inside sentences: the share of each at or above 0.5, and the area under
    the ROC curve (0.5: no better than chance; 1: always right)."""
    ends: list[float] = []
    inside: list[float] = []
    for (name, turn, _start, speech_end), probability in judge.probabilities.items():
        if name == variant:
            real_end = abs(speech_end - heard[turn][1]) < 0.15
            (ends if real_end else inside).append(probability)
    if not ends or not inside:
        return {}
    wins = sum((e > i) + 0.5 * (e == i) for e in ends for i in inside)
    return {
        "real_ends": len(ends),
        "pauses_inside": len(inside),
        "real_ends_judged_complete": round(sum(p >= 0.5 for p in ends) / len(ends), 2),
        "inside_judged_complete": round(sum(p >= 0.5 for p in inside) / len(inside), 2),
        "auc": round(wins / (len(ends) * len(inside)), 3),
    }


def both_at(
    judge: Judge, words: Words, variant: str, threshold: float, turn: int, pause: PauseHeard
) -> bool:
    return complete_at(judge, variant, threshold, turn, pause) and words.sound_finished(
        variant, turn, pause
    )


def complete_at(judge: Judge, variant: str, threshold: float, turn: int, pause: PauseHeard) -> bool:
    return judge.probability(variant, turn, pause) >= threshold


PIPER = PiperEngine(first_chunk_words=None)
ESPEAK = EspeakEngine(voice="en-us")

if __name__ == "__main__":
    main()
