"""Typed errors of the speech engine (TTS, audio input, lip-sync)."""

from __future__ import annotations

from visavis.errors import InvalidInputError, VisavisError


class SpeechError(VisavisError):
    """Base of every error raised by ``visavis.speech``."""

    code = "speech_error"


class UnspeakableTextError(SpeechError, InvalidInputError):
    """The text has nothing a voice can say (empty, only symbols, or too long)."""

    code = "unspeakable_text"


class InvalidAudioError(SpeechError, InvalidInputError):
    """The input is not readable audio, is corrupt, or holds no samples."""

    code = "invalid_audio"


class AlignmentError(SpeechError):
    """The text could not be aligned to the audio (it does not match what is said)."""

    code = "alignment_failed"


class VoiceLoadError(SpeechError):
    """A voice (Piper model, eSpeak library or voice name) could not be loaded."""

    code = "voice_load_failed"
