"""Lip-sync evaluation set: synthetic speech with exact phone timings, and its scorer.

Voices: eSpeak NG (several voices, rates and pitches; its phoneme events are exact), festival
(HTS voice cmu_us_slt_arctic_hts — held out of fitting unless asked — and two diphone voices)
and Piper (exact durations from the ONNX graph). Utterances join two sentences with a real pause.
Generated audio is cached under ``artifacts/speech_evalset`` (never committed).

Scoring follows ``shared/reference/lipsync.md``: 10 ms frames, Rhubarb's acceptable shapes.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visavis.speech.audio import read_audio, resample, write_wav
from visavis.speech.bursts import burst_time
from visavis.speech.lipsync.rules import OPEN_VOWELS, acceptable_shapes
from visavis.speech.lipsync.track import MouthCue
from visavis.speech.phones import SIL, VOWELS
from visavis.speech.tts.base import PhoneTiming

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "artifacts" / "speech_evalset"
SENTENCES = Path(__file__).resolve().parent / "data" / "lipsync_sentences.txt"
RATE = 16000  # every item is stored at 16 kHz mono
FRAME = 0.01

# name -> (engine, voice, rate, pitch)
VOICES: dict[str, tuple[str, str, float, float]] = {
    "espeak-us": ("espeak", "en-us", 1.0, 1.0),
    "espeak-us-f3-fast": ("espeak", "en-us+f3", 1.35, 1.3),
    "espeak-gb-slow": ("espeak", "en", 0.8, 0.9),
    "espeak-us-m3": ("espeak", "en-us+m3", 1.15, 0.8),
    "festival-slt-hts": ("festival", "cmu_us_slt_arctic_hts", 1.0, 1.0),
    "festival-kal": ("festival", "kal_diphone", 1.0, 1.0),
    "festival-ked": ("festival", "ked_diphone", 1.0, 1.0),
    "piper-joe": ("piper", "joe", 1.0, 1.0),
    "piper-joe-fast": ("piper", "joe", 1.25, 1.0),
    "piper-joe-slow": ("piper", "joe", 0.8, 1.0),
    # Voices no model was fitted on. Speakers of their own (flite's clustergen voices rms and
    # awb were trained on other people's recordings), other eSpeak variants, other rates.
    "flite-rms": ("flite", "rms", 1.0, 1.0),
    "flite-slt-slow": ("flite", "slt", 0.8, 1.0),
    "espeak-us-f2-slow": ("espeak", "en-us+f2", 0.7, 1.1),
    "flite-awb": ("flite", "awb", 1.0, 1.0),
    "espeak-rp-m5-fast": ("espeak", "en-gb-x-rp+m5", 1.6, 0.9),
}
# Fitted on: the first ten. Never fitted on: the rest; of those, the held-out ones are not
# looked at while developing either (their figures are the final ones).
FIT_VOICES = tuple(list(VOICES)[:10])
HELD_OUT_VOICES = ("flite-awb", "espeak-rp-m5-fast")
_FESTIVAL_PHONES = {"pau": SIL, "h#": SIL, "brth": SIL, "sil": SIL}


@dataclass
class EvalItem:
    """One utterance: 16 kHz audio, its text, its true phones (``phones``) and the phones as
    the synthesizer reports them, a closure with the phone before (``reported``)."""

    name: str
    voice: str
    text: str
    pcm: np.ndarray
    phones: list[PhoneTiming]
    sample_rate: int = RATE
    reported: list[PhoneTiming] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate


def sentences(split: str) -> list[str]:
    """Corpus sentences of a split: ``train`` (even lines) or ``test`` (odd lines)."""
    lines = [line.strip() for line in SENTENCES.read_text().splitlines() if line.strip()]
    return lines[0::2] if split == "train" else lines[1::2]


def load_evalset(
    voices: Iterable[str] = tuple(VOICES), split: str = "test", cache: Path = CACHE
) -> list[EvalItem]:
    """Every utterance of ``split`` for ``voices``, generating what is not cached yet."""
    items: list[EvalItem] = []
    for voice in voices:
        folder = cache / voice / split
        if not (folder / "done").exists():
            _generate(voice, split, folder)
        for meta_path in sorted(folder.glob("*.json")):
            meta = json.loads(meta_path.read_text())
            pcm, rate = read_audio(meta_path.with_suffix(".wav"))
            raw = [PhoneTiming(p, s, e) for p, s, e in meta["phones"]]
            held = held_closures(voice, pcm, rate, raw)
            phones = split_silent_closures(pcm, rate, held)
            reported = synthesizer_phones(held)
            items.append(EvalItem(meta_path.stem, voice, meta["text"], pcm, phones, rate, reported))
    return items


def _generate(voice: str, split: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    engine, name, rate, pitch = VOICES[voice]
    texts = sentences(split)
    if engine == "espeak":
        rendered = _espeak(texts, name, rate, pitch)
    elif engine == "festival":
        rendered = _festival(texts, name)
    elif engine == "flite":
        rendered = _flite(texts, name, rate)
    else:
        rendered = _piper(texts, rate)
    rng = random.Random(f"{voice}-{split}")
    for index in range(0, len(rendered) - 1, 2):
        parts = rendered[index : index + 2]
        gap = rng.uniform(0.15, 1.1)
        pcm, phones = _join(parts, lead=rng.uniform(0.1, 0.5), gap=gap, tail=0.3)
        text = " ".join(texts[index : index + 2])
        stem = folder / f"{split}-{index // 2:02d}"
        write_wav(stem.with_suffix(".wav"), pcm, RATE)
        meta = {"text": text, "phones": [[p.phone, p.start, p.end] for p in phones]}
        stem.with_suffix(".json").write_text(json.dumps(meta))
    (folder / "done").write_text("ok")


def _join(
    parts: Sequence[tuple[np.ndarray, list[PhoneTiming]]], *, lead: float, gap: float, tail: float
) -> tuple[np.ndarray, list[PhoneTiming]]:
    pcm_parts: list[np.ndarray] = [np.zeros(int(lead * RATE), dtype=np.int16)]
    phones: list[PhoneTiming] = [PhoneTiming(SIL, 0.0, lead)]
    clock = lead
    for index, (pcm, timings) in enumerate(parts):
        pcm_parts.append(pcm)
        phones += [PhoneTiming(p.phone, p.start + clock, p.end + clock) for p in timings]
        clock += len(pcm) / RATE
        pause = gap if index + 1 < len(parts) else tail
        pcm_parts.append(np.zeros(int(pause * RATE), dtype=np.int16))
        phones.append(PhoneTiming(SIL, clock, clock + pause))
        clock += pause
    return np.concatenate(pcm_parts), _merge_sil(phones)


def _merge_sil(phones: list[PhoneTiming]) -> list[PhoneTiming]:
    out: list[PhoneTiming] = []
    for p in phones:
        if p.end <= p.start:
            continue
        if out and p.phone == SIL and out[-1].phone == SIL:
            out[-1] = PhoneTiming(SIL, out[-1].start, p.end)
        else:
            out.append(p)
    return out


def _espeak(texts: list[str], voice: str, rate: float, pitch: float) -> list[Any]:
    from visavis.speech.tts.espeak import EspeakEngine

    engine = EspeakEngine(voice=voice)
    out = []
    for text in texts:
        chunk = engine.synthesize_sentence(text, RATE, rate, pitch)
        out.append((chunk.pcm, list(chunk.phones or ())))
    return out


def _piper(texts: list[str], rate: float = 1.0) -> list[Any]:
    from visavis.speech.tts.piper import PiperEngine

    # Piper's own durations: its P/B hold their closure, split off at load (split_closures).
    engine = PiperEngine(first_chunk_words=None, stops_at_burst=False)
    out = []
    for text in texts:
        chunks = engine.synthesize_sentence(text, RATE, rate)
        pcm = np.concatenate([c.pcm for c in chunks])
        phones: list[PhoneTiming] = []
        clock = 0.0
        for c in chunks:
            phones += [PhoneTiming(p.phone, p.start + clock, p.end + clock) for p in c.phones or ()]
            clock += c.duration
        out.append((pcm, phones))
    return out


FESTIVAL_PACKAGES = "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"


def _festival(texts: list[str], voice: str) -> list[Any]:
    if shutil.which("festival") is None:
        raise SystemExit(
            f"the evaluation set needs festival's voices: apt-get install -y {FESTIVAL_PACKAGES}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        script = [f"(voice_{voice})"]
        for index, text in enumerate(texts):
            quoted = text.replace("\\", " ").replace('"', " ")
            script += [
                f'(set! u (Utterance Text "{quoted}"))',
                "(utt.synth u)",
                f'(utt.save.wave u "{tmp}/{index}.wav" (quote riff))',
                f'(utt.save.segs u "{tmp}/{index}.segs")',
            ]
        (Path(tmp) / "run.scm").write_text("\n".join(script) + "\n")
        subprocess.run(["festival", "-b", f"{tmp}/run.scm"], check=True, timeout=600)
        out = []
        for index in range(len(texts)):
            pcm, rate = read_audio(Path(tmp) / f"{index}.wav")
            pcm = resample(pcm, rate, RATE)
            out.append((pcm, _festival_segments(Path(tmp) / f"{index}.segs", len(pcm) / RATE)))
        return out


def _flite(texts: list[str], voice: str, rate: float) -> list[Any]:
    """flite's clustergen voices (Debian ``flite``): audio and segment end times."""
    if shutil.which("flite") is None:
        raise SystemExit("the evaluation set needs flite: apt-get install -y flite")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, text in enumerate(texts):
            wav = Path(tmp) / f"{index}.wav"
            done = subprocess.run(
                ["flite", "-voice", voice, "--setf", f"duration_stretch={1 / rate:.3f}",
                 "-psdur", "-t", text, "-o", str(wav)],
                capture_output=True, text=True, check=True, timeout=120,
            )  # fmt: skip
            pcm, sample_rate = read_audio(wav)
            pcm = resample(pcm, sample_rate, RATE)
            segs = Path(tmp) / f"{index}.segs"
            rows = [item.rsplit(":", 1) for item in done.stdout.split()]
            segs.write_text("#\n" + "\n".join(f"{end} 0 {name}" for name, end in rows) + "\n")
            out.append((pcm, _festival_segments(segs, len(pcm) / RATE)))
    return out


def _festival_segments(path: Path, duration: float) -> list[PhoneTiming]:
    """festival segs (end times) to phones; p/b hold closure + release (release at 0.6)."""
    phones: list[PhoneTiming] = []
    start = 0.0
    body = path.read_text().split("#", 1)[1]
    for line in body.strip().splitlines():
        end_text, _, name = line.split()
        end = min(float(end_text), duration)
        phone = _FESTIVAL_PHONES.get(name, name.upper())
        if phone in ("P", "B"):
            release = start + 0.6 * (end - start)
            phones += [PhoneTiming("CL", start, release), PhoneTiming(phone, release, end)]
        else:
            phones.append(PhoneTiming(phone, start, end))
        start = end
    if start < duration:
        phones.append(PhoneTiming(SIL, start, duration))
    return _merge_sil(phones)


def split_closures(pcm: np.ndarray, rate: int, phones: Sequence[PhoneTiming]) -> list[PhoneTiming]:
    """Piper's P/B, which hold their silent closure, become CL + P/B split at the burst.

    Piper's durations start a P/B where its closure starts (its pad before included); the burst
    comes near the phone's end (``visavis.speech.bursts``). A P/B with no clear burst stays whole.
    """
    out: list[PhoneTiming] = []
    for p in phones:
        release = burst_time(pcm, rate, p.start, p.end) if p.phone in ("P", "B") else None
        if release is None:
            out.append(p)
        else:
            out += [PhoneTiming("CL", p.start, release), PhoneTiming(p.phone, release, p.end)]
    return out


QUIET_DB = 30.0  # a silent closure: this far under the recording's loud level
LONGEST_CLOSURE_S = 0.1
LEVEL_STEP_S = 0.005


def true_phones(
    voice: str, pcm: np.ndarray, rate: int, phones: Sequence[PhoneTiming]
) -> list[PhoneTiming]:
    """A voice's phone timings with every P/B's silent closure timed as ``CL``.

    Piper's P/B hold their closure (split at the burst); eSpeak NG's start at the burst and
    leave the closure at the end of the phone before (split where the audio falls silent);
    festival's and flite's are split when read.
    """
    return split_silent_closures(pcm, rate, held_closures(voice, pcm, rate, phones))


def held_closures(
    voice: str, pcm: np.ndarray, rate: int, phones: Sequence[PhoneTiming]
) -> list[PhoneTiming]:
    """The closures a voice's P/B hold, as ``CL`` (Piper's, split at the burst)."""
    return split_closures(pcm, rate, phones) if VOICES[voice][0] == "piper" else list(phones)


def split_silent_closures(
    pcm: np.ndarray, rate: int, phones: Sequence[PhoneTiming]
) -> list[PhoneTiming]:
    """The silent end of the phone right before a P/B release becomes ``CL``.

    A synthesizer that starts a P/B at its burst times the closure before it as the end of the
    phone before (an open vowel, often): frames where no sound is made but the lips are shut.
    Silent here: ``QUIET_DB`` under the recording's loud level (its 95th percentile of 5 ms
    levels), as the acoustic model's trainer labels closures; at most ``LONGEST_CLOSURE_S``.
    """
    step = max(1, int(LEVEL_STEP_S * rate))
    block_s = step / rate
    blocks = len(pcm) // step
    if blocks == 0:
        return list(phones)
    chunk = np.asarray(pcm[: blocks * step], dtype=np.float64) / 32768.0
    level = 10.0 * np.log10((chunk.reshape(blocks, step) ** 2).mean(axis=1) + 1e-10)
    quiet = level < float(np.percentile(level, 95)) - QUIET_DB
    out: list[PhoneTiming] = []
    for index, phone in enumerate(phones):
        following = phones[index + 1] if index + 1 < len(phones) else None
        closes_anyway = phone.phone in (SIL, "CL", "P", "B", "M")
        if following is None or following.phone not in ("P", "B") or closes_anyway:
            out.append(phone)
            continue
        release = following.start
        k = min(blocks, int(round(release / block_s)))
        while k > 0 and quiet[k - 1] and release - (k - 1) * block_s <= LONGEST_CLOSURE_S:
            k -= 1
        start = max(phone.start, k * block_s)
        if start >= release - 1e-9:
            out.append(phone)
        elif start <= phone.start + 1e-9:
            out.append(PhoneTiming("CL", phone.start, release))
        else:
            out += [PhoneTiming(phone.phone, phone.start, start), PhoneTiming("CL", start, release)]
    return out


def synthesizer_phones(phones: Sequence[PhoneTiming]) -> list[PhoneTiming]:
    """True phones as a synthesizer reports them: a closure belongs to the phone before."""
    out: list[PhoneTiming] = []
    for p in phones:
        if p.phone == "CL" and out:
            out[-1] = PhoneTiming(out[-1].phone, out[-1].start, p.end)
        else:
            out.append(PhoneTiming(SIL if p.phone == "CL" else p.phone, p.start, p.end))
    return out


# --------------------------------------------------------------------------- scoring


@dataclass
class Counts:
    """Numerators and denominators of one item's scores (summed over a set)."""

    speech: int = 0
    accepted: int = 0
    vowel: int = 0
    vowel_accepted: int = 0
    closures: int = 0
    closures_hit: int = 0
    open_vowel: int = 0
    false_closed: int = 0
    open_vowel_lenient: int = 0  # open-vowel frames outside the 60 ms before a P/B release
    false_closed_lenient: int = 0
    silence: int = 0
    silence_rest: int = 0
    onset_errors: list[float] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        for name, value in vars(other).items():
            if name == "onset_errors":
                self.onset_errors.extend(value)
            else:
                setattr(self, name, getattr(self, name) + value)

    def metrics(self) -> dict[str, float | None]:
        def ratio(num: int, den: int) -> float | None:
            return round(num / den, 4) if den else None

        return {
            "accept": ratio(self.accepted, self.speech),
            "vowel_accept": ratio(self.vowel_accepted, self.vowel),
            "closure_recall": ratio(self.closures_hit, self.closures),
            "false_closures": ratio(self.false_closed, self.open_vowel),
            "false_closures_outside_pre_release_60ms": ratio(
                self.false_closed_lenient, self.open_vowel_lenient
            ),
            "silence": ratio(self.silence_rest, self.silence),
            "closure_onset_error_ms": (
                round(float(np.median(self.onset_errors)) * 1000, 1) if self.onset_errors else None
            ),
        }


def score(phones: Sequence[PhoneTiming], cues: Sequence[MouthCue], duration: float) -> Counts:
    """Score mouth cues against the true phones, frame by frame (10 ms)."""
    counts = Counts()
    frames = int(duration / FRAME)
    times = (np.arange(frames) + 0.5) * FRAME
    cue_starts = np.array([c.start for c in cues])
    shape_of = [cues[max(0, i)].shape for i in np.searchsorted(cue_starts, times, "right") - 1]
    starts = np.array([p.start for p in phones])
    owner = np.searchsorted(starts, times, "right") - 1
    releases = [p.start for p in phones if p.phone in ("P", "B")]
    closure_zone = np.zeros(frames, dtype=bool)
    for release in releases:
        closure_zone[(times >= release - 0.06) & (times < release)] = True
    for k in range(frames):
        phone = phones[max(0, owner[k])]
        shape = shape_of[k]
        if phone.phone == SIL:
            length = phone.end - phone.start
            if length >= 0.4 and phone.start + 0.1 <= times[k] < phone.end - 0.1:
                counts.silence += 1
                counts.silence_rest += shape in ("X", "A")
            continue
        counts.speech += 1
        if phone.phone in ("P", "B", "CL"):
            ok = True
        else:
            first, second = acceptable_shapes(phone.phone, phone.end - phone.start)
            mid = (phone.start + phone.end) / 2
            allowed = second if second is not None and times[k] >= mid else first
            ok = shape in allowed
        counts.accepted += ok
        if phone.phone in VOWELS:
            counts.vowel += 1
            counts.vowel_accepted += ok
        if phone.phone in OPEN_VOWELS:
            closed = shape in ("A", "X")
            counts.open_vowel += 1
            counts.false_closed += closed
            if not closure_zone[k]:
                counts.open_vowel_lenient += 1
                counts.false_closed_lenient += closed
    closed_cues = [c for c in cues if c.shape == "A"]
    for phone in phones:
        if phone.phone in ("P", "B"):
            lo, hi, anchor = phone.start - 0.12, phone.start + 0.02, "end"
        elif phone.phone == "M":
            lo, hi, anchor = phone.start - 0.03, phone.end + 0.03, "start"
        else:
            continue
        counts.closures += 1
        hits = [c for c in closed_cues if c.end > lo and c.start < hi]
        if hits:
            counts.closures_hit += 1
            if anchor == "end":
                counts.onset_errors.append(min(abs(c.end - phone.start) for c in hits))
            else:
                counts.onset_errors.append(min(abs(c.start - phone.start) for c in hits))
    return counts
