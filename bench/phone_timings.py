"""How each voice's own phone timings (the evaluation set's truth) sit against an independent
aligner: pocketsphinx 5 and its en-us model (trained on human speech), forced to the text.

For every phone both sequences share (matched in order, pauses left out) it takes the
voice's phone start minus pocketsphinx's. The aligner has a bias of its own, so the figure
that matters is how a voice compares with the others: a voice whose timings sit tens of
milliseconds away from the rest is reporting its boundaries differently, not the aligner.

Needs the ``bench`` extra (``pip install -e '.[bench]'``). Uses the ``train`` split unless
told otherwise (the timings, not a model, are under test).

Usage: ``python bench/phone_timings.py [--voices a,b] [--split train] [--limit N]
[--cache DIR]``. Prints JSON.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech_evalset as ev  # noqa: E402
from visavis.speech.phones import SIL  # noqa: E402
from visavis.speech.tts.base import PhoneTiming  # noqa: E402

FRAME_S = 0.01  # pocketsphinx's frame


def sphinx_phones(pcm: np.ndarray, text: str) -> list[tuple[str, float]] | None:
    """(phone, start) of pocketsphinx's forced alignment; None if it cannot align the text."""
    from pocketsphinx import Decoder

    words = " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())
    decoder = Decoder(bestpath=False, loglevel="FATAL")
    raw = pcm.astype(np.int16).tobytes()
    try:
        decoder.set_align_text(words)  # fails on a word outside its dictionary
        for pass_ in ("words", "phones"):
            if pass_ == "phones":
                decoder.set_alignment()  # fails when the words found no path
            decoder.start_utt()
            decoder.process_raw(raw, full_utt=True)
            decoder.end_utt()
    except RuntimeError:
        return None
    out = []
    for word in decoder.get_alignment():
        for phone in word:
            if phone.name != "SIL" and not phone.name.startswith("+"):
                out.append((phone.name, phone.start * FRAME_S))
    return out


def offsets_ms(truth: list[PhoneTiming], sphinx: list[tuple[str, float]]) -> list[float]:
    """Truth start minus aligner start, for the phones both sequences share in order."""
    ours = [p for p in truth if p.phone != SIL]
    matcher = difflib.SequenceMatcher(
        a=[p.phone for p in ours], b=[name for name, _ in sphinx], autojunk=False
    )
    return [
        (ours[block.a + k].start - sphinx[block.b + k][1]) * 1000
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default=",".join(ev.VOICES))
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--limit", type=int, default=20, help="utterances per voice")
    parser.add_argument("--cache", type=Path, default=ev.CACHE)
    args = parser.parse_args()
    report: dict[str, object] = {"split": args.split, "aligner": "pocketsphinx en-us"}
    voices: dict[str, object] = {}
    for voice in args.voices.split(","):
        items = ev.load_evalset([voice], split=args.split, cache=args.cache)[: args.limit]
        found: list[float] = []
        unaligned = 0
        for item in items:
            sphinx = sphinx_phones(item.pcm, item.text)
            if sphinx is None:
                unaligned += 1
                continue
            found += offsets_ms(item.reported, sphinx)
        if not found:
            voices[voice] = {"phones": 0, "unaligned": unaligned}
            continue
        values = np.array(found)
        voices[voice] = {
            "phones": len(found),
            "unaligned": unaligned,
            "median_offset_ms": round(statistics.median(found), 1),
            "within_20ms": round(float(np.mean(np.abs(values) <= 20)), 3),
        }
    report["voices"] = voices
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
