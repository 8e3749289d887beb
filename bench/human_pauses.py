"""Where real readers pause, and which of those pauses would end their turn. Prints JSON.

The human readings of ``human_speech`` (three readers, registry packages) are pushed whole
through the server's ``Endpointer`` at each end silence of ``--silences``: every utterance
boundary it makes is a turn the live conversation would have ended there. Each boundary is
placed in the text — Whisper base times the words of the whole reading, the words are aligned
to the book's text, and the punctuation after the last word before the boundary says where it
fell: at the end of a sentence (``. ? !``), at a clause mark (``, ; : -``), or inside a clause.
A reading is one turn read aloud, so each boundary is a reader cut off; the ones inside a
clause are cut mid-thought. ``pauses`` lists every silence of 200 ms or more the detector heard
(as ``Endpointer`` measures it: from the last voiced window to the next), with its place.

With ``--unfinished-ends``, each end silence is also run with the words at each pause heard
as a live turn hears them (Whisper tiny.en on the audio so far, taken as known 150 ms after
the pause): where they do not sound finished (``visavis.speech.turn_end``), the pause ends the
turn only after that longer silence.

Usage: ``python bench/human_pauses.py [--silences 300,400,500,600,700,800]
[--unfinished-ends 1000,1200]``
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import functools
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import human_speech  # noqa: E402
import vad  # noqa: E402
from visavis.speech.scheduling import DeadlineScheduler  # noqa: E402
from visavis.speech.stt.whisper import FasterWhisperEngine, WhisperOptions  # noqa: E402
from visavis.speech.vad import (  # noqa: E402
    Endpointer,
    EndpointOptions,
    PauseHeard,
    SpeechResumed,
)

SENTENCE_END = ".?!"
PLACES = ("sentence end", "clause mark", "inside a clause")
DECODE_S = 0.15  # the pause's words are known this long after it (as in bench/vad.py)
RATE = 16000
CLAUSE_MARK = ",;:-—"


def _tokens(text: str) -> list[tuple[str, str]]:
    """The text's words, each with the punctuation right after it (a lone dash joins the word
    before it)."""
    out: list[tuple[str, str]] = []
    for raw in text.split():
        word = re.sub(r"[^a-z0-9']", "", raw.lower())
        mark = raw[len(raw.rstrip(SENTENCE_END + CLAUSE_MARK)) :]
        if word:
            out.append((word, mark))
        elif out:
            out[-1] = (out[-1][0], out[-1][1] + raw)
    return out


def _place(mark: str) -> str:
    if any(c in SENTENCE_END for c in mark):
        return "sentence end"
    if mark:
        return "clause mark"
    return "inside a clause"


class Placer:
    """Maps a time in the reading to the book's word said last before it."""

    def __init__(self, text: str, words: list[tuple[str, float, float]]) -> None:
        self.ref = _tokens(text)
        self.words = words
        hyp = [re.sub(r"[^a-z0-9']", "", w.lower()) for w, _, _ in words]
        self.to_ref: dict[int, int] = {}
        matcher = difflib.SequenceMatcher(None, [w for w, _ in self.ref], hyp, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag in ("equal", "replace"):  # a misheard word stands where the book's was
                for j in range(j1, j2):
                    self.to_ref[j] = i1 + min(i2 - i1 - 1, (j - j1) * (i2 - i1) // (j2 - j1))

    def at(self, time_s: float) -> dict[str, object]:
        # A word's edges are the least sure of its times: it was said if its middle was.
        said = [i for i, (_, start, end) in enumerate(self.words) if (start + end) / 2 < time_s]
        if not said:
            return {"after": None, "place": "before the first word"}
        mapped = [self.to_ref[i] for i in said if i in self.to_ref]
        if not mapped:
            return {"after": self.words[said[-1]][0], "place": "unaligned"}
        word, mark = self.ref[mapped[-1]]
        return {"after": word + mark, "place": _place(mark)}


def boundaries(pcm: np.ndarray, silence_ms: int, quick: vad.Quick | None) -> list[float]:
    """Where the endpointer ends a turn inside the reading (the last voiced time before each),
    as ``bench/vad.py`` hears a turn (with ``quick``, a pause's own end silence)."""
    padded = np.concatenate([pcm, np.zeros(2 * RATE, np.int16)])  # the last turn ends too
    ends = [u.speech_end for u in vad.hear(padded, 0, silence_ms, quick)]
    return ends[:-1]  # the last is the reading's own end


def pauses(pcm: np.ndarray) -> list[tuple[float, float]]:
    """(last voiced time, silence in ms) of each pause of 200 ms or more."""
    endpointer = Endpointer(EndpointOptions(end_silence_ms=5000, max_utterance_s=600, pause_ms=200))
    out: list[tuple[float, float]] = []
    last_end: float | None = None
    step = 512
    for start in range(0, len(pcm), step):
        for event in endpointer.push(pcm[start : start + step]):
            if isinstance(event, PauseHeard):
                last_end = event.speech_end
            elif isinstance(event, SpeechResumed) and last_end is not None:
                # Reported at the end of the first voiced window after the pause.
                resumed = event.at - endpointer.detector.window / 16000
                out.append((last_end, round(1000 * (resumed - last_end))))
                last_end = None
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--silences", default="300,400,500,600,700,800")
    parser.add_argument("--unfinished-ends", default="", help="e.g. 1000,1200")
    args = parser.parse_args()
    silences = [int(s) for s in args.silences.split(",")]
    slows = [int(s) for s in args.unfinished_ends.split(",") if s]
    engine = FasterWhisperEngine(
        WhisperOptions(model="base", beam_size=5, width_step=1), scheduler=DeadlineScheduler(1)
    )
    await engine.load()
    pause_words = vad.Words() if slows else None
    rules = [(str(ms), ms, None) for ms in silences] + [
        (f"{ms}, unfinished words {slow}", ms, slow)
        for ms in silences
        for slow in slows
        if slow > ms
    ]
    report: dict[str, object] = {"silences_ms": silences, "readings": {}}
    totals = {name: dict.fromkeys(PLACES, 0) for name, _, _ in rules}
    try:
        for reading in human_speech.readings():
            transcript = await engine.transcribe(reading.pcm)
            words = [(w.text.strip(), w.start, w.end) for s in transcript.segments for w in s.words]
            placer = Placer(reading.text, words)
            cuts: dict[str, object] = {}
            for name, silence, slow in rules:
                rule: vad.Quick | None = None
                if slow is not None and pause_words is not None:
                    waits = functools.partial(pause_words.wait, reading.voice, slow, None)
                    rule = (DECODE_S, waits, {})
                placed = [
                    placer.at(t) | {"at_s": round(t, 2)}
                    for t in boundaries(reading.pcm, silence, rule)
                ]
                for p in placed:
                    if p["place"] in totals[name]:
                        totals[name][str(p["place"])] += 1
                cuts[name] = placed
            report["readings"][reading.voice] = {  # type: ignore[index]
                "duration_s": round(len(reading.pcm) / 16000, 1),
                "words": len(placer.ref),
                "sentence_ends_inside": sum(
                    1 for _, m in placer.ref[:-1] if _place(m) == "sentence end"
                ),
                "turns_ended_inside": cuts,
                "pauses": [
                    placer.at(t) | {"at_s": round(t, 2), "silence_ms": ms}
                    for t, ms in pauses(reading.pcm)
                ],
            }
    finally:
        await engine.aclose()
    report["turns_ended_inside_by_place"] = totals
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
