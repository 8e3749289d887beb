"""Speech-to-text: one small streaming interface, offline engines and a remote client."""

from visavis.speech.stt.base import (
    SAMPLE_RATE,
    RecognitionObserver,
    Segment,
    STTEngine,
    STTStream,
    Transcript,
    Word,
)
from visavis.speech.stt.errors import (
    STTModelError,
    STTStreamClosedError,
    TranscriptionError,
    UnsupportedLanguageError,
)
from visavis.speech.stt.factory import STTEngineOptions, build_stt_engine

__all__ = [
    "RecognitionObserver",
    "SAMPLE_RATE",
    "STTEngine",
    "STTEngineOptions",
    "STTModelError",
    "STTStream",
    "STTStreamClosedError",
    "Segment",
    "Transcript",
    "TranscriptionError",
    "UnsupportedLanguageError",
    "Word",
    "build_stt_engine",
]
