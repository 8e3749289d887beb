"""Long recordings for the lip-sync bench: a 30- or 60-minute voice-over with its dialog.

Sentences of the evaluation corpus, each spoken once by a voice with exact phone timings, are
joined in a random order with pauses of 0.15–1.1 s (and a longer breath now and then) until
the wanted length; the true phones of the whole file come from the sentences'. Files are
cached under ``artifacts/speech_long`` (never committed).

``python bench/long_recordings.py --run WAV TEXT OUT`` is the measured part, run in a process
of its own so that its peak memory is its own: read the file, align it to its dialog, write
the cues (TSV) and the figures (JSON).
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech_evalset as ev  # noqa: E402
from visavis.speech.audio import read_audio, write_wav  # noqa: E402
from visavis.speech.lipsync.track import MouthCue  # noqa: E402
from visavis.speech.tts.base import PhoneTiming  # noqa: E402

CACHE = ev.ROOT / "artifacts" / "speech_long"


def build(minutes: float, voice: str, seed: int = 11) -> tuple[Path, Path, Path]:
    """(wav, dialog text, true phones JSON) of a ``minutes``-long recording by ``voice``."""
    stem = CACHE / f"{voice}-{minutes:g}min"
    wav, text, truth = (stem.with_suffix(s) for s in (".wav", ".txt", ".json"))
    if wav.exists() and text.exists() and truth.exists():
        return wav, text, truth
    CACHE.mkdir(parents=True, exist_ok=True)
    lines = ev.sentences("train") + ev.sentences("test")
    engine, name, rate, pitch = ev.VOICES[voice]
    if engine == "espeak":
        spoken = ev._espeak(lines, name, rate, pitch)
    elif engine == "flite":
        spoken = ev._flite(lines, name, rate)
    elif engine == "festival":
        spoken = ev._festival(lines, name)
    else:
        spoken = ev._piper(lines, rate)
    rng = random.Random(seed)
    pcm_parts: list[np.ndarray] = []
    phones: list[PhoneTiming] = []
    said: list[str] = []
    clock = 0.0
    while clock < minutes * 60:
        index = rng.randrange(len(lines))
        pcm, timings = spoken[index]
        pause = rng.uniform(0.15, 1.1) if rng.random() > 0.1 else rng.uniform(1.5, 3.0)
        gap = int(pause * ev.RATE)
        lead = gap / ev.RATE  # whole samples: the true timeline must not drift
        pcm_parts += [np.zeros(gap, np.int16), pcm]
        phones.append(PhoneTiming(ev.SIL, clock, clock + lead))
        clock += lead
        phones += [PhoneTiming(p.phone, p.start + clock, p.end + clock) for p in timings]
        clock += len(pcm) / ev.RATE
        said.append(lines[index])
    pcm_parts.append(np.zeros(int(0.5 * ev.RATE), np.int16))
    phones.append(PhoneTiming(ev.SIL, clock, clock + 0.5))
    write_wav(wav, np.concatenate(pcm_parts), ev.RATE)
    text.write_text("\n".join(said) + "\n")
    truth.write_text(json.dumps([[p.phone, p.start, p.end] for p in ev._merge_sil(phones)]))
    return wav, text, truth


def measure(minutes: float, voice: str, ad_lib_every: int = 0) -> dict[str, Any]:
    """Align a long recording in a process of its own; time, peak memory and accuracy.

    ``ad_lib_every`` > 0 leaves every such line out of the dialog: the audio then holds
    lines the text does not (ad-libs), which must fall back to audio-only analysis alone.
    """
    wav, text, truth = build(minutes, voice)
    out = wav.with_suffix(".result.json")
    extra: dict[str, int] = {}
    if ad_lib_every:
        lines = text.read_text().splitlines()
        extra["ad_libs"] = len(lines) // ad_lib_every
        text = text.with_suffix(f".without-every-{ad_lib_every}.txt")
        text.write_text("\n".join(line for i, line in enumerate(lines, 1) if i % ad_lib_every))
    subprocess.run(
        [sys.executable, __file__, "--run", str(wav), str(text), str(out)],
        check=True,
        timeout=3600,
    )
    figures = json.loads(out.read_text())
    cues = [MouthCue(s, e, shape, "") for s, e, shape in figures.pop("cues")]
    phones = [PhoneTiming(p, s, e) for p, s, e in json.loads(truth.read_text())]
    pcm, rate = read_audio(wav)
    phones = ev.true_phones(voice, pcm, rate, phones)
    counts = ev.score(phones, cues, figures["audio_seconds"])
    spans = figures.pop("fallback_spans") or []
    figures["fallback_spans"] = len(spans)
    figures["fallback_seconds"] = round(sum(s["end"] - s["start"] for s in spans), 1)
    extra = (
        {"ad_libs": len(text.read_text().splitlines()) // (ad_lib_every - 1)}
        if ad_lib_every
        else {}
    )
    return {"voice": voice, "minutes": minutes, **extra, **figures, **counts.metrics()}


def _peak_rss_mb() -> float:
    """This process's own peak resident memory (MB).

    ``VmHWM`` belongs to the process image, so it starts afresh at ``exec``; ``ru_maxrss``
    would carry over the peak of the bench that started this process.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(wav: str, text: str, out: str) -> None:
    from visavis.speech.audio import read_audio
    from visavis.speech.lipsync import animate

    started, cpu = time.perf_counter(), time.process_time()
    pcm, rate = read_audio(wav)
    track = animate(pcm, rate, text=Path(text).read_text())
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - started
    peak_mb = _peak_rss_mb()
    Path(out).write_text(
        json.dumps(
            {
                "audio_seconds": round(track.duration, 1),
                "cpu_seconds": round(cpu_s, 1),
                "wall_seconds": round(wall_s, 1),
                "x_realtime_cpu": round(track.duration / cpu_s, 1),
                "peak_memory_mb": round(peak_mb),
                "method": track.method,
                "pieces": track.metadata.get("pieces"),
                "fallback_spans": track.metadata.get("fallback_spans"),
                "words_unmatched": track.metadata.get("words_unmatched"),
                "cues": [[c.start, c.end, c.shape] for c in track.cues],
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--run":
        _run(*sys.argv[2:])
    else:
        raise SystemExit(__doc__)
