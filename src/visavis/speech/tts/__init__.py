"""Text-to-speech engines behind one small interface (``TTSEngine``)."""

from visavis.speech.tts.base import AudioChunk, PhoneTiming, TTSEngine

__all__ = ["AudioChunk", "PhoneTiming", "TTSEngine"]
