"""Speaking with a GPT-SoVITS voice: ``api_v2`` ``/tts`` in streaming mode, clause by clause.

The server says nothing of timings, so each sentence is sent a clause at a time (split at
commas and the like when it is long): every clause comes back as its own audio chunk with
its own words, for our lip-sync aligner, and the first clause is heard sooner. In
streaming mode a WAV body starts with a header of zero frames, then raw PCM16 mono.
"""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import AsyncIterator

import numpy as np

from visavis.speech.audio import resample
from visavis.speech.tts.base import AudioChunk, TTSEngine, check_options, split_sentences
from visavis.voices.cloning import CloningUnavailable
from visavis.voices.gptsovits_api import GPTSoVITSAPI

WAV_HEADER_BYTES = 44
DEFAULT_RATE = 32000
_CLAUSE = re.compile(r"(?<=[,;:—])\s+")
MIN_CLAUSE_WORDS = 4


def clauses(sentence: str) -> list[str]:
    """``sentence`` cut after its commas, colons and dashes, no part under four words."""
    parts: list[str] = []
    for piece in _CLAUSE.split(sentence):
        if parts and len(parts[-1].split()) < MIN_CLAUSE_WORDS:
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    if len(parts) > 1 and len(parts[-1].split()) < MIN_CLAUSE_WORDS:
        last = parts.pop()
        parts[-1] = f"{parts[-1]} {last}"
    return parts


def header_rate(header: bytes) -> int:
    """The sample rate in a WAV header (``DEFAULT_RATE`` if it is not one)."""
    if len(header) >= 28 and header[:4] == b"RIFF" and header[8:12] == b"WAVE":
        rate: int = struct.unpack_from("<I", header, 24)[0]
        return rate or DEFAULT_RATE
    return DEFAULT_RATE


class GPTSoVITSVoice(TTSEngine):
    """The voice of one reference clip on one server; requests share the server's lock."""

    native_sample_rate = DEFAULT_RATE

    def __init__(
        self,
        api: GPTSoVITSAPI,
        reference_path: str,
        *,
        lock: asyncio.Lock,
        language: str = "en",
        reference_text: str = "",
    ) -> None:
        self.api = api
        self.reference_path = reference_path
        self.lock = lock
        self.language = language
        self.reference_text = reference_text
        self.name = f"gptsovits:{reference_path}"

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
        for sentence in split_sentences(text):
            parts = clauses(sentence)
            for index, part in enumerate(parts):
                pcm, source_rate = await self._clause(part, rate)
                out_rate = sample_rate or source_rate
                yield AudioChunk(
                    pcm=resample(pcm, source_rate, out_rate),
                    sample_rate=out_rate,
                    text=part,
                    continued=index + 1 < len(parts),
                )

    async def _clause(self, text: str, rate: float) -> tuple[np.ndarray, int]:
        params = {
            "text": text,
            "text_lang": self.language,
            "ref_audio_path": self.reference_path,
            "prompt_lang": self.language,
            "prompt_text": self.reference_text,
            "media_type": "wav",
            "speed_factor": rate,
        }
        body = bytearray()
        async with self.lock:
            async for data in self.api.stream_tts(params):
                body.extend(data)
        if len(body) < WAV_HEADER_BYTES:
            raise CloningUnavailable("the GPT-SoVITS server sent no audio")
        source_rate = header_rate(bytes(body[:WAV_HEADER_BYTES]))
        audio = bytes(body[WAV_HEADER_BYTES:])
        pcm = np.frombuffer(audio[: len(audio) // 2 * 2], dtype="<i2")
        if not len(pcm):
            raise CloningUnavailable("the GPT-SoVITS server sent no audio")
        return pcm, source_rate

    async def aclose(self) -> None:
        """The API client belongs to the cloning backend."""
