"""Speaking with an ElevenLabs voice: streamed PCM with the characters' timings.

The stream's character alignment says which words each stretch of audio holds, so the
audio is handed on in pieces that end between two words, each with its words as text (the
mouth cues are then aligned by our own lip-sync aligner on that audio and text).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import numpy as np
import numpy.typing as npt

from visavis.speech.audio import resample
from visavis.speech.tts.base import AudioChunk, TTSEngine, check_options, split_sentences
from visavis.voices.elevenlabs_api import DEFAULT_MODEL, SPEECH_RATE, ElevenLabsAPI

#: Shorter pieces are held back until more words come (each piece is aligned on its own).
MIN_PIECE_S = 0.25


class ElevenLabsVoice(TTSEngine):
    """One cloned voice at ElevenLabs; ``rate`` and ``pitch`` are the service's own."""

    native_sample_rate = SPEECH_RATE

    def __init__(self, api: ElevenLabsAPI, voice_id: str, *, model_id: str = DEFAULT_MODEL):
        self.api = api
        self.voice_id = voice_id
        self.model_id = model_id
        self.name = f"elevenlabs:{voice_id}"

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        check_options(text, sample_rate, rate, pitch)
        out_rate = sample_rate or SPEECH_RATE
        for sentence in split_sentences(text):
            async for chunk in self._sentence(sentence, out_rate):
                yield chunk

    async def _sentence(self, sentence: str, out_rate: int) -> AsyncIterator[AudioChunk]:
        pcm = np.zeros(0, dtype=np.int16)
        chars: list[str] = []
        ends: list[float] = []
        cut_chars = 0  # characters already handed on
        cut_samples = 0  # samples already handed on
        async for line in self.api.stream_speech(self.voice_id, sentence, model_id=self.model_id):
            audio = base64.b64decode(line.get("audio_base64") or "")
            pcm = np.concatenate([pcm, np.frombuffer(audio, dtype="<i2")])
            alignment = line.get("alignment") or {}
            chars.extend(alignment.get("characters") or [])
            ends.extend(float(t) for t in alignment.get("character_end_times_seconds") or [])
            # Cut after the last whole word whose audio has arrived.
            space = max((i for i in range(cut_chars, len(chars)) if chars[i] == " "), default=-1)
            if space <= cut_chars or space - 1 >= len(ends):
                continue
            end_sample = min(len(pcm), int(ends[space - 1] * SPEECH_RATE))
            words = "".join(chars[cut_chars:space]).strip()
            if words and end_sample - cut_samples >= MIN_PIECE_S * SPEECH_RATE:
                yield self._chunk(pcm[cut_samples:end_sample], words, out_rate, continued=True)
                cut_chars, cut_samples = space + 1, end_sample
        words = "".join(chars[cut_chars:]).strip() if chars else sentence
        if len(pcm) > cut_samples:
            yield self._chunk(pcm[cut_samples:], words or sentence, out_rate, continued=False)

    @staticmethod
    def _chunk(
        pcm: npt.NDArray[np.int16], text: str, out_rate: int, *, continued: bool
    ) -> AudioChunk:
        if out_rate != SPEECH_RATE:
            pcm = resample(pcm, SPEECH_RATE, out_rate)
        return AudioChunk(pcm=pcm, sample_rate=out_rate, text=text, continued=continued)

    async def aclose(self) -> None:
        """The API client belongs to the cloning backend."""
