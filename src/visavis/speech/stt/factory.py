"""Build the instance's one recognizer by name (no engine is imported before it is chosen)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import STTEngine
from visavis.speech.stt.whisper_models import WHISPER_MODEL_NAMES, WhisperModelName

EngineName = Literal["faster-whisper", "moonshine", "openai"]
ENGINE_NAMES: tuple[EngineName, ...] = ("faster-whisper", "moonshine", "openai")


@dataclass(frozen=True, kw_only=True)
class STTEngineOptions:
    """Everything any engine needs; each takes its own part."""

    engine: EngineName = "faster-whisper"
    whisper_model: WhisperModelName = "tiny.en"
    """The packaged Whisper model (``whisper_models``); ``whisper_model_dir`` overrides it."""
    whisper_model_dir: Path | None = None
    whisper_beam_size: int = 1
    """Whisper's beam (1: greedy, the cheapest)."""
    whisper_width_step: int = 50
    """Frames a short decode's input is rounded to, so that decodes waiting together batch
    (``WhisperOptions.width_step``; 1 for files)."""
    threads: int = 1
    partial_interval_s: float | None = 0.5
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = ""
    openai_model: str = "whisper-1"
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.engine not in ENGINE_NAMES:
            raise ValueError(f"unknown STT engine {self.engine!r}: use one of {ENGINE_NAMES}")
        if self.whisper_model not in WHISPER_MODEL_NAMES:
            raise ValueError(
                f"unknown Whisper model {self.whisper_model!r}: use one of {WHISPER_MODEL_NAMES}"
            )
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if not 1 <= self.whisper_beam_size <= 10:
            raise ValueError("whisper_beam_size must be 1 to 10")


def build_stt_engine(options: STTEngineOptions, *, scheduler: DeadlineScheduler) -> STTEngine:
    """The engine ``options.engine`` names; local ones decode under ``scheduler``'s slots.

    Models load on first use (or with ``await engine.load()``), off the event loop.
    """
    if options.engine == "moonshine":
        from visavis.speech.stt.moonshine import MoonshineEngine

        return MoonshineEngine(scheduler=scheduler, partial_interval_s=options.partial_interval_s)
    if options.engine == "openai":
        from visavis.speech.stt.openai_api import OpenAITranscriptionAPI
        from visavis.speech.stt.openai_compatible import (
            OpenAICompatibleSTTEngine,
            OpenAISTTOptions,
        )

        api = OpenAITranscriptionAPI(
            base_url=options.openai_base_url,
            api_key=options.openai_api_key,
            timeout_s=options.timeout_s,
        )
        return OpenAICompatibleSTTEngine(
            api, OpenAISTTOptions(model=options.openai_model, concurrency=scheduler.slots)
        )
    from visavis.speech.stt.whisper import FasterWhisperEngine, WhisperOptions

    return FasterWhisperEngine(
        WhisperOptions(
            model=options.whisper_model,
            model_dir=options.whisper_model_dir,
            threads=options.threads,
            beam_size=options.whisper_beam_size,
            width_step=options.whisper_width_step,
        ),
        scheduler=scheduler,
        partial_interval_s=options.partial_interval_s,
    )
