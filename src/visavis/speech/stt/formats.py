"""Transcripts in the response formats of OpenAI's transcription API: json, text,
verbose_json (segments and words), srt and vtt — for the HTTP API and the CLI alike."""

from __future__ import annotations

import json
from typing import Any, Literal

from visavis.speech.stt.base import Transcript

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
RESPONSE_FORMATS: tuple[ResponseFormat, ...] = ("json", "text", "verbose_json", "srt", "vtt")
MEDIA_TYPES: dict[ResponseFormat, str] = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}
_LANGUAGE_NAMES = {"en": "english"}


def verbose(transcript: Transcript, *, words: bool = True, segments: bool = True) -> dict[str, Any]:
    """OpenAI's ``verbose_json`` object (``words`` and ``segments`` as asked for)."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": _LANGUAGE_NAMES.get(transcript.language, transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
    }
    if segments:
        body["segments"] = [
            {
                "id": index,
                "seek": 0,
                "start": round(segment.start, 3),
                "end": round(segment.end, 3),
                "text": segment.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": 0.0,
                "compression_ratio": 0.0,
                "no_speech_prob": 0.0,
            }
            for index, segment in enumerate(transcript.segments)
        ]
    if words:
        body["words"] = [
            {"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3)}
            for w in transcript.words
        ]
    return body


def render(transcript: Transcript, fmt: ResponseFormat, *, words: bool = True) -> str:
    """The transcript as the body of a response (or a file) in ``fmt``."""
    if fmt == "json":
        return json.dumps({"text": transcript.text}, ensure_ascii=False)
    if fmt == "verbose_json":
        return json.dumps(verbose(transcript, words=words), ensure_ascii=False)
    if fmt == "text":
        return transcript.text + "\n"
    return subtitles(transcript, vtt=fmt == "vtt")


def subtitles(transcript: Transcript, *, vtt: bool) -> str:
    """SubRip or WebVTT cues, one per segment."""
    sep = "." if vtt else ","
    blocks = []
    cues = [s for s in transcript.segments if s.text.strip()]
    for index, segment in enumerate(cues, 1):
        times = f"{_clock(segment.start, sep)} --> {_clock(segment.end, sep)}"
        blocks.append(
            f"{times}\n{segment.text.strip()}"
            if vtt
            else f"{index}\n{times}\n{segment.text.strip()}"
        )
    body = "\n\n".join(blocks)
    head = "WEBVTT\n\n" if vtt else ""
    return f"{head}{body}\n" if body else head


def _clock(seconds: float, sep: str) -> str:
    millis = max(round(seconds * 1000), 0)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"
