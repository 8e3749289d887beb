"""Moonshine tiny-en through ``moonshine-voice`` 0.1.0, offline: the model ships in the wheel
(later releases download models at run time, so the version is pinned exactly).

The wheel has no word-alignment model: transcripts carry segment times, no word times.
"""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import Segment
from visavis.speech.stt.errors import STTModelError
from visavis.speech.stt.local import Audio, LocalSTTEngine, verify_model_files

MODEL_PACKAGE = "moonshine-voice"
# The tiny-en model files of moonshine-voice 0.1.0.
MODEL_SHA256 = {
    "encoder_model.ort": "94e90a4654fc45cdfedb77c4c08e1739f48862998e58fada384b25118134f221",
    "decoder_model_merged.ort": "cf524c4862d36e9e5ab032eddc73637efd822d70e868ac575cf1a46e1e4708a0",
    "tokenizer.bin": "6884b35fd6377d4c4d32336a0bc152f36b64d1e45b6503683cdc238250a8472d",
}


class MoonshineEngine(LocalSTTEngine):
    """Moonshine tiny (English): cost grows with the audio's length, not a fixed window."""

    name = "moonshine"
    word_times = False

    def __init__(
        self, *, scheduler: DeadlineScheduler, partial_interval_s: float | None = 0.5
    ) -> None:
        super().__init__(scheduler=scheduler, partial_interval_s=partial_interval_s)
        # One native transcriber per decode slot: the library does not promise thread safety.
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._transcribers: list[Any] = []

    def _load(self) -> None:
        try:
            from moonshine_voice import ModelArch
            from moonshine_voice.transcriber import Transcriber
            from moonshine_voice.utils import get_model_path
        except ImportError as exc:
            raise STTModelError(
                f"Moonshine is not installed: pip install '{MODEL_PACKAGE}==0.1.0'"
            ) from exc
        folder = Path(get_model_path("tiny-en"))
        verify_model_files(folder, MODEL_SHA256, package=MODEL_PACKAGE)
        for _ in range(self.scheduler.slots):
            try:
                transcriber = Transcriber(
                    str(folder),
                    model_arch=ModelArch.TINY,
                    options={"return_audio_data": "false"},  # not the input handed back
                )
            except Exception as exc:  # the library raises its own error types
                raise STTModelError(f"cannot load the Moonshine model: {exc}") from exc
            self._transcribers.append(transcriber)
            self._pool.put(transcriber)

    def _decode(self, audio: Audio, *, final: bool, prompt: str | None = None) -> list[Segment]:
        if not self._transcribers:
            raise STTModelError("the Moonshine engine is closed")
        if len(audio) == 0:
            return []
        transcriber = self._pool.get(timeout=60)
        try:
            result = transcriber.transcribe_without_streaming(audio.tolist(), 16000)
        finally:
            self._pool.put(transcriber)
        return [
            Segment(
                line.text.strip(), float(line.start_time), float(line.start_time + line.duration)
            )
            for line in result.lines
            if line.text.strip()
        ]

    def _release(self) -> None:
        transcribers, self._transcribers = self._transcribers, []
        for _ in transcribers:  # each back from its decode before any is freed
            self._pool.get(timeout=60).close()
