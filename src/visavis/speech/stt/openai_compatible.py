"""Speech recognition by an OpenAI-compatible server: the utterance is sent as a WAV file.

No partials by default (each would be a full upload and decode at the server); finals carry
word times when the server gives them (``timestamp_granularities[]=word``; the words may come at
the top level, as OpenAI's do, or inside each segment, as some self-hosted servers send them). A
model that answers only ``json`` gives text without times: ``word_times`` turns False.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from visavis.speech.encode import wav_bytes
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import (
    SAMPLE_RATE,
    Pcm16,
    Segment,
    STTEngine,
    STTStream,
    Transcript,
    Word,
)
from visavis.speech.stt.errors import TranscriptionError
from visavis.speech.stt.openai_api import OpenAITranscriptionAPI
from visavis.speech.stt.streaming import BufferedSTTStream


@dataclass(frozen=True, kw_only=True)
class OpenAISTTOptions:
    """Which model to ask for; ``concurrency`` bounds the requests in flight."""

    model: str = "whisper-1"
    concurrency: int = 4
    partial_interval_s: float | None = None

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ValueError("the transcription model name is empty")
        if not 1 <= self.concurrency <= 256:
            raise ValueError("concurrency must be 1 to 256")


class OpenAICompatibleSTTEngine(STTEngine):
    """Transcription by a remote server speaking OpenAI's audio API."""

    name = "openai"
    word_times = True
    takes_prompt = True

    def __init__(self, api: OpenAITranscriptionAPI, options: OpenAISTTOptions | None = None):
        self.api = api
        self.options = options or OpenAISTTOptions()
        self._requests = DeadlineScheduler(self.options.concurrency)

    def stream(self, *, language: str | None = None, prompt: str | None = None) -> STTStream:
        async def decode(pcm: Pcm16, final: bool, deadline: float) -> Transcript:
            return await self._transcribe(
                pcm, language=language, final=final, deadline=deadline, prompt=prompt
            )

        return BufferedSTTStream(decode, partial_interval_s=self.options.partial_interval_s)

    async def transcribe(
        self,
        pcm: Pcm16,
        *,
        language: str | None = None,
        deadline: float | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        when = asyncio.get_running_loop().time() if deadline is None else deadline
        return await self._transcribe(
            pcm, language=language, final=True, deadline=when, prompt=prompt
        )

    async def _transcribe(
        self, pcm: Pcm16, *, language: str | None, final: bool, deadline: float, prompt: str | None
    ) -> Transcript:
        duration = len(pcm) / SAMPLE_RATE
        async with self._requests.slot(deadline):
            started = time.perf_counter()
            body = await self.api.transcribe(
                wav_bytes(pcm), model=self.options.model, language=language, prompt=prompt
            )
            elapsed = time.perf_counter() - started
        self.word_times = self.api.times_words(self.options.model)
        self._observe(duration, elapsed)
        segments = parse_segments(body)
        return Transcript(
            text=str(body["text"]).strip(),
            segments=tuple(segments),
            duration=float(body.get("duration") or duration),
            final=final,
            language=str(body.get("language") or language or "en"),
            decode_s=elapsed,
        )

    async def aclose(self) -> None:
        await self.api.aclose()


def parse_segments(body: dict[str, Any]) -> list[Segment]:
    """Segments of a ``verbose_json`` answer, each with the words that fall inside it (from
    the answer's ``words``, or else from each segment's own)."""
    try:
        listed = body.get("words") or [
            word for segment in body.get("segments") or () for word in segment.get("words") or ()
        ]
        words = [Word(str(w["word"]).strip(), float(w["start"]), float(w["end"])) for w in listed]
        raw_segments = [
            (str(s["text"]).strip(), float(s["start"]), float(s["end"]))
            for s in body.get("segments") or ()
        ]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise TranscriptionError(f"the server's segments or words are malformed: {exc}") from exc
    text = str(body["text"]).strip()
    if not raw_segments:
        if not text:
            return []
        end = words[-1].end if words else float(body.get("duration") or 0.0)
        return [Segment(text, words[0].start if words else 0.0, end, tuple(words))]
    segments = []
    for index, (seg_text, start, end) in enumerate(raw_segments):
        last = index == len(raw_segments) - 1
        inside = tuple(w for w in words if start <= w.start < end or (last and w.start >= start))
        segments.append(Segment(seg_text, start, end, inside))
    return segments
