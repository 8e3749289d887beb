"""The recognizer options the settings ask for: one mapping for the server and the CLI."""

from __future__ import annotations

from visavis.config import Settings
from visavis.speech.stt import STTEngineOptions


def stt_options(settings: Settings, *, files: bool) -> STTEngineOptions:
    """How to recognize live turns (``files=False``) or whole files (the audio API, ``visavis
    transcribe``: Whisper's file model and beam, where the instance runs Whisper)."""
    interval = settings.stt_partial_interval_ms / 1000 or None
    whisper = settings.stt_engine == "faster-whisper"
    packaged = whisper and settings.stt_whisper_model_path is None
    return STTEngineOptions(
        engine=settings.stt_engine,
        whisper_model=(
            settings.stt_file_whisper_model if files and packaged else settings.stt_whisper_model
        ),
        whisper_model_dir=settings.stt_whisper_model_path,
        whisper_beam_size=(
            settings.stt_file_whisper_beam_size
            if files and whisper
            else settings.stt_whisper_beam_size
        ),
        # Files are decoded exactly (no rounding of the input): they never burst as turns do.
        whisper_width_step=1 if files and whisper else 50,
        threads=settings.stt_threads,
        partial_interval_s=interval,
        openai_base_url=settings.stt_openai_base_url,
        openai_api_key=(
            settings.stt_openai_api_key.get_secret_value() if settings.stt_openai_api_key else ""
        ),
        openai_model=settings.stt_openai_model,
        timeout_s=settings.stt_timeout_s,
    )
