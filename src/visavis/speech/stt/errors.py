"""Typed errors of speech recognition."""

from __future__ import annotations

from visavis.errors import ConfigurationError, InvalidInputError
from visavis.speech.errors import SpeechError


class TranscriptionError(SpeechError):
    """The engine failed to transcribe (a remote server refused, timed out or answered badly)."""

    code = "transcription_failed"
    http_status = 502


class STTModelError(SpeechError, ConfigurationError):
    """The speech model is missing, or its files are not the ones this release was built for."""

    code = "stt_model_unavailable"


class UnsupportedLanguageError(SpeechError, InvalidInputError):
    """The engine cannot transcribe the requested language."""

    code = "unsupported_language"


class STTStreamClosedError(SpeechError):
    """Audio was pushed to a stream after it was finished or closed."""

    code = "stt_stream_closed"
