"""Vocabulary prompts: what prompting Whisper with names and terms gains, and what it costs.

Evaluation set: ``bench/data/vocabulary_sentences.jsonl``, conversational sentences that each
contain one to three names or terms (people's names from many languages, companies, software,
places, medical, legal and financial words), split ``dev`` (anything chosen is chosen on it)
and ``test`` (the final, unseen half). Voices: the synthesizers of ``speech_evalset``; each
sentence alone with 0.3 s of silence before and after, cached under ``artifacts/vocabulary``.

Each sentence is decoded three ways: ``no_prompt``; ``own_terms``, prompted with its own terms
(the gain); ``other_terms``, prompted with the terms of the next sentence of the split that
shares none (a prompt that does not match what is said: the harm). Per way: ``wer`` (Whisper's
English normalizer, as ``stt.py`` scores), ``term_recall`` (terms heard exactly: the term's
normalized words as a contiguous run of the transcript's), CPU seconds per decode (on one
core); ``other_terms_inserted`` counts the mismatched prompt's terms that appear in transcripts.
``--prompt-style terms`` prompts "Kubernetes, Zalando."; ``sentence`` (the default) prompts
what a conversation's vocabulary makes: "Names and terms: Kubernetes, Zalando."

Engines: ``faster-whisper`` (tiny.en), ``faster-whisper:base`` (any packaged model name after
the colon), built as ``stt.py`` builds them; ``--beam`` sets Whisper's beam size.

Usage: ``python bench/vocabulary.py [--engines faster-whisper,faster-whisper:base]
[--split dev|test] [--voices a,b] [--limit N] [--beam N] [--prompt-style terms|sentence]``.
Prints JSON.
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
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech_evalset as ev  # noqa: E402
import stt  # noqa: E402
from visavis.speech.audio import read_audio, write_wav  # noqa: E402
from visavis.speech.stt.local import LocalSTTEngine  # noqa: E402
from visavis.speech.stt.vocabulary import vocabulary_prompt  # noqa: E402
from visavis.testing.word_errors import edit_distance  # noqa: E402
from wer import whisper_normalize  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "vocabulary_sentences.jsonl"
CACHE = ev.ROOT / "artifacts" / "vocabulary"
DEFAULT_VOICES = ("piper-joe", "festival-slt-hts", "espeak-us", "festival-kal")
PAD_S = 0.3
WAYS = ("no_prompt", "own_terms", "other_terms")


@dataclass
class Sentence:
    text: str
    terms: list[str]
    control: list[str]  # terms of another sentence of the split: the mismatched prompt


def sentences(split: str) -> list[Sentence]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    rows = [row for row in rows if row["split"] == split]
    out = []
    for index, row in enumerate(rows):
        own = {t.lower() for t in row["terms"]}
        for step in range(1, len(rows)):
            other = rows[(index + step) % len(rows)]["terms"]
            if not own & {t.lower() for t in other}:
                break
        for term in row["terms"]:
            if not _contains(whisper_normalize(row["text"]), term):
                raise SystemExit(f"{DATA.name}: {term!r} is not in {row['text']!r}")
        out.append(Sentence(row["text"], row["terms"], other))
    return out


def _contains(words: list[str], term: str) -> bool:
    wanted = whisper_normalize(term)
    return any(words[i : i + len(wanted)] == wanted for i in range(len(words)))


def audio(voice: str, split: str, texts: list[str]) -> list[np.ndarray]:
    """Each text spoken by ``voice`` with ``PAD_S`` of silence around, from the cache if there."""
    folder = CACHE / voice
    stems = [folder / f"{split}-{index:02d}" for index in range(len(texts))]
    missing = [
        index
        for index, stem in enumerate(stems)
        if not (stem.with_suffix(".wav").exists() and stem.with_suffix(".json").exists())
        or json.loads(stem.with_suffix(".json").read_text())["text"] != texts[index]
    ]
    if missing:
        print(f"synthesizing {len(missing)} sentences with {voice}", file=sys.stderr)
        folder.mkdir(parents=True, exist_ok=True)
        pad = np.zeros(int(PAD_S * ev.RATE), dtype=np.int16)
        for index, (pcm, _) in zip(
            missing, _synthesize(voice, [texts[i] for i in missing]), strict=True
        ):
            write_wav(stems[index].with_suffix(".wav"), np.concatenate([pad, pcm, pad]), ev.RATE)
            stems[index].with_suffix(".json").write_text(json.dumps({"text": texts[index]}))
    out = []
    for stem in stems:
        pcm, rate = read_audio(stem.with_suffix(".wav"))
        assert rate == ev.RATE
        out.append(pcm)
    return out


def _synthesize(voice: str, texts: list[str]) -> list:  # type: ignore[type-arg]
    engine, name, rate, pitch = ev.VOICES[voice]
    if engine == "espeak":
        return ev._espeak(texts, name, rate, pitch)
    if engine == "festival":
        return ev._festival(texts, name)
    if engine == "flite":
        return ev._flite(texts, name, rate)
    return ev._piper(texts, rate)


def prompt_text(terms: list[str], style: str) -> str | None:
    """``sentence``: the prompt a conversation's vocabulary makes; ``terms``: a bare list."""
    return ", ".join(terms) + "." if style == "terms" else vocabulary_prompt(terms)


@dataclass
class Tally:
    errors: int = 0
    words: int = 0
    terms: int = 0
    heard: int = 0
    decodes: int = 0
    cpu_s: float = 0.0
    inserted: int = 0  # terms of a mismatched prompt found in the transcript, not said

    def add(self, ref: list[str], hyp: list[str], terms: list[str], cpu_s: float) -> None:
        self.errors += edit_distance(ref, hyp)
        self.words += len(ref)
        self.terms += len(terms)
        self.heard += sum(_contains(hyp, term) for term in terms)
        self.decodes += 1
        self.cpu_s += cpu_s

    def report(self, cpu: bool = True) -> dict[str, float]:
        out = {
            "wer": round(self.errors / max(self.words, 1), 4),
            "term_recall": round(self.heard / max(self.terms, 1), 4),
        }
        if cpu:
            out["cpu_s_per_decode"] = round(self.cpu_s / max(self.decodes, 1), 4)
        return out


async def evaluate(
    engine: LocalSTTEngine,
    items: dict[str, list[tuple[Sentence, np.ndarray]]],
    style: str,
    ways: tuple[str, ...],
) -> dict[str, object]:
    total = {way: Tally() for way in ways}
    by_voice: dict[str, dict[str, Tally]] = {}
    for voice, pairs in items.items():
        print(f"{engine.name}: {voice}", file=sys.stderr)
        tallies = by_voice[voice] = {way: Tally() for way in ways}
        for sentence, pcm in pairs:
            ref = whisper_normalize(sentence.text)
            for way in ways:
                terms = {"own_terms": sentence.terms, "other_terms": sentence.control}.get(way)
                cpu = time.process_time()
                prompt = None if terms is None else prompt_text(terms, style)
                transcript = await engine.transcribe(pcm, language="en", prompt=prompt)
                cpu_s = time.process_time() - cpu
                hyp = whisper_normalize(transcript.text)
                total[way].add(ref, hyp, sentence.terms, cpu_s)
                tallies[way].add(ref, hyp, sentence.terms, cpu_s)
                if way == "other_terms":
                    # A term the sentence says too is no sign of the prompt being echoed.
                    unsaid = [t for t in sentence.control if not _contains(ref, t)]
                    total[way].inserted += sum(_contains(hyp, term) for term in unsaid)
    result: dict[str, object] = {way: total[way].report() for way in ways}
    if "other_terms" in ways:
        result["other_terms_inserted"] = total["other_terms"].inserted
    result["by_voice"] = {
        voice: {way: tallies[way].report(cpu=False) for way in ways}
        for voice, tallies in by_voice.items()
    }
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="faster-whisper")
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--voices", default=",".join(DEFAULT_VOICES))
    parser.add_argument("--limit", type=int, default=None, help="sentences per voice")
    parser.add_argument(
        "--beam-size", "--beam", dest="beam_size", type=int, default=1, help="Whisper's beam"
    )
    parser.add_argument("--prompt-style", default="sentence", choices=["terms", "sentence"])
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:1]))
    engines = {
        name: stt.build(name, padded=False, partial_interval_s=None, beam_size=args.beam_size)
        for name in args.engines.split(",")
    }
    chosen = sentences(args.split)[: args.limit]
    voices = args.voices.split(",")
    items = {
        v: list(zip(chosen, audio(v, args.split, [s.text for s in chosen]), strict=True))
        for v in voices
    }
    report: dict[str, object] = {
        "split": args.split,
        "voices": voices,
        "whisper_beam_size": args.beam_size,
        "prompt_style": args.prompt_style,
        "sentences": len(chosen),
        "utterances": len(chosen) * len(voices),
        "words": sum(len(whisper_normalize(s.text)) for s in chosen) * len(voices),
        "terms": sum(len(s.terms) for s in chosen) * len(voices),
        "engines": {},
    }
    for name, engine in engines.items():
        started = time.perf_counter()
        await engine.load()
        result: dict[str, object] = {"load_s": round(time.perf_counter() - started, 2)}
        result |= await evaluate(engine, items, args.prompt_style, WAYS)
        await engine.aclose()
        report["engines"][name] = result  # type: ignore[index]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
